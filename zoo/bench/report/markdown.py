"""``report.md``: the comparison table, timings, and the PNGs of ``img/`` linked by relative path."""

from __future__ import annotations

import re

from zoo.bench.report.build import Report, bests, caption, data_line, seconds, status, timing_rows
from zoo.bench.report.charts import ref_name
from zoo.bench.table import cell_text, overrides_text
from zoo.bench.wording import (
    contrast_text,
    history_headers,
    history_lines,
    history_title,
    metric_verdict_lines,
    metric_verdicts_caption,
)

#: What a name, a description or an error could otherwise turn into markup: emphasis, links and images,
#: code, raw HTML, entities, table cells, strikethrough, headings and (on GitHub) $math$.
_MARKUP = re.compile(r"([\\`*_\[\]<>|~&$#])")


def _text(text: str) -> str:
    """User text (grid, variant and cell names, descriptions, errors) as literal Markdown on one line."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def _alt(text: str) -> str:
    """Text for a Markdown image's [alt] (cell labels carry "[seed N]"): brackets become parentheses."""
    return text.replace("[", "(").replace("]", ")")


def _md(text: str) -> str:
    """A table cell zoo itself marked up (bold best values): one line, ``|`` escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    g = report.grid
    out = [f"# zoo report: {_text(report.name)}", ""]
    if g["description"]:
        out += [f"> {_text(g['description'])}", ""]
    out += [f"Grid file `{g['path']}` · results `{report.db}` · generated {report.generated} · zoo {report.version}", ""]
    if data := data_line(report):
        out += [f"Data: {_text(data)}", ""]
    out += _table(report)
    if report.failed:
        out += ["### Failed cells", ""]
        for label, error in report.failed:
            out += [f"- **{_text(label)}**", "", "  ```", *("  " + line for line in error.splitlines()), "  ```", ""]
    if timing := timing_rows(g["timings"]):
        out += ["## Timings", "", "| phase | time | share of total |", "|---|---:|---:|"]
        out += [f"| {label.replace('&nbsp;', '')} | {seconds(s)} | {share:.1%} |" for _, label, s, share in timing]
        out += ["", "Wall clock of the last `zoo benchmark` run of this grid; cells already done were skipped and do "
                "not count. Per-cell phases are summed over cells (with --jobs > 1 they overlap).", ""]
    if report.charts:
        out += ["## Metrics", "", "Bars: mean over seeds (error bar: std over seeds). Lines: floor (dashed), "
                "ceiling (dotted), real data's diversity (dash-dot).", ""]
        out += [f"![{c.title}](img/{c.file})" for c in report.charts] + [""]
    if report.loss:
        out += ["## Loss curves", "", f"![loss curves](img/{report.loss.file})", ""]
    if report.curves:
        out += ["## Learning curves", "", report.curves[0].caption + ".", ""]
        out += [f"![{c.title}](img/{c.file})" for c in report.curves] + [""]
    if report.samples:
        out += ["## Samples", ""]
        for s in report.samples:
            out += [f"### {_text(s.title)}", "", _text(s.caption), "", f"![samples of {_text(_alt(s.title))}](img/{s.file})", ""]
    return "\n".join(out)


def comparison_markdown(report: Report) -> str:
    """The comparison table, how to read it and the verdicts over training, as the report shows them: the
    docs quote a grid's results file with it (benchmarks/docs_tables.py)."""
    return "\n".join(_table(report)[2:])


def _table(report: Report) -> list[str]:
    """The comparison table (best values in bold) and how to read it."""
    best = bests(report)
    vs = [f"vs {report.comparison.reference}"] if report.comparison else []
    out = ["## Comparison", "", "| cell | overrides | " + " | ".join([*(c.header for c in report.columns), *vs]) + " | status |",
           "|---|---|" + "---:|" * (len(report.columns) + len(vs)) + "---|"]
    for row in [*report.rows, *report.refs]:
        cells = []
        for c in report.columns:
            text, note, is_best = cell_text(row, c, best)
            text = f"**{text}**" if is_best else text
            cells.append(f"{text} ({note})" if note else text)
        if report.comparison:
            cells.append("" if row.status == "reference" else contrast_text(report.comparison, row))
        name = f"*{_text(ref_name(row, report.refs))}*" if row.status == "reference" else _text(row.name)
        over = "" if row.status == "reference" else _text(overrides_text(row.overrides))
        out.append("| " + " | ".join([name, over, *map(_md, cells), _text(status(row, report.comparison)[:120])]) + " |")
    return out + ["", caption(report), ""] + _metric_verdicts(report) + _history(report)


def _metric_verdicts(report: Report) -> list[str]:
    """The verdicts on every metric, one line per contrast (nothing without compare.also)."""
    headers, lines = metric_verdict_lines(report.comparison) if report.comparison else ([], [])
    if not headers:
        return []
    return _small_table("Verdicts on every metric", metric_verdicts_caption(report.comparison), [*map(_text, headers)],
                        [[_text(name), *map(_md, cells)] for name, *cells in lines], ["---", *["---:"] * (len(headers) - 1)])


def _history(report: Report) -> list[str]:
    """The verdicts over training, one line per contrast (nothing without learning curves)."""
    if report.comparison is None or not report.comparison.history:
        return []
    headers = list(history_headers(report.comparison))
    return _small_table("Verdicts over training", history_title(report.comparison) + ".", headers,
                        [[_text(name), runs, since, _text(learning)]
                         for name, runs, since, learning in history_lines(report.comparison)], ["---"] * 4)  # fmt: skip


def _small_table(title: str, caption: str, headers: list[str], lines: list[list[str]], align: list[str]) -> list[str]:
    """A titled Markdown table under the comparison (cells already escaped), ``align`` one ``---`` per column."""
    return [f"### {title}", "", caption, "", "| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(line) + " |" for line in lines), ""]
