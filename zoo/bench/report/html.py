"""``report.html``: one self-contained page (images as data URIs, the CSS of ``report.css`` inline)."""

from __future__ import annotations

import base64
import datetime
import html
from importlib.resources import files
from typing import Any

from zoo.bench.report.build import Image, Report, bests, caption, data_line, seconds, timing_rows
from zoo.bench.report.charts import chart_rows, ref_name
from zoo.bench.table import Row, cell_text, overrides_text
from zoo.bench.wording import (
    contrast_text,
    history_headers,
    history_lines,
    history_title,
    metric_verdict_lines,
    metric_verdicts_caption,
)

CSS = files("zoo.bench.report").joinpath("report.css").read_text(encoding="utf-8")  # package data


def _e(text: Any) -> str:
    return html.escape(str(text))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _badge(row: Row, learning: bool = False) -> str:
    mark = '<div class="sub">still learning</div>' if learning else ""
    if row.status.startswith("same as "):
        return f'<span class="badge same">same as</span><div class="sub">{_e(row.status[8:])}</div>{mark}'
    out = f'<span class="badge {_e(row.status.split()[0])}">{_e(row.status)}</span>{mark}'
    if row.error:
        short = row.error if len(row.error) <= 90 else row.error[:90] + "…"
        out += f'<div class="err" title="{_e(row.error)}">{_e(short)}</div>'
    return out


def _html_table(report: Report) -> str:
    best = bests(report)
    vs = [f"vs {report.comparison.reference}"] if report.comparison else []
    head = '<th class="l">cell</th><th class="l">overrides</th>' + "".join(f"<th>{_e(t)}</th>" for t in
                                                                          [*(c.header for c in report.columns), *vs])
    body = []
    for i, row in enumerate([*report.rows, *report.refs]):
        ref = row.status == "reference"
        cells = [f'<td class="l name">{_e(ref_name(row, report.refs) if ref else row.name)}</td>',
                 f'<td class="l over">{"" if ref else _e(overrides_text(row.overrides))}</td>']
        for c in report.columns:
            text, note, is_best = cell_text(row, c, best)
            value, _, std = text.partition(" ± ")
            extra = "".join(f'<span class="note">{_e(x)}</span>' for x in (std and f"± {std}", note) if x)
            cells.append(f'<td class="num{" best" if is_best else ""}">{_e(value)}{extra}</td>')
        if report.comparison:
            cells.append(f'<td class="num">{"" if ref else _e(contrast_text(report.comparison, row))}</td>')
        learning = report.comparison is not None and report.comparison.still_learning(row.name)
        cells.append(f'<td class="l status">{_badge(row, learning)}</td>')
        cls = ("ref first" if i == len(report.rows) else "ref") if ref else "dup" if row.status.startswith("same") else ""
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}<th class="l">status</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div><p class="caption">{_e(caption(report))}</p>' + _html_metric_verdicts(report)
            + _html_history(report))


def _html_metric_verdicts(report: Report) -> str:
    """The verdicts on every metric, one row per contrast (nothing without compare.also)."""
    headers, lines = metric_verdict_lines(report.comparison) if report.comparison else ([], [])
    if not headers:
        return ""
    return _html_small_table("Verdicts on every metric", metric_verdicts_caption(report.comparison), headers, lines, left=1)


def _html_history(report: Report) -> str:
    """The verdicts over training, one row per contrast (nothing without learning curves)."""
    if report.comparison is None or not report.comparison.history:
        return ""
    headers = list(history_headers(report.comparison))
    return _html_small_table("Verdicts over training", history_title(report.comparison) + ".", headers,
                             history_lines(report.comparison), left=len(headers))


def _html_small_table(title: str, caption: str, headers: list[str], lines: list[Any], *, left: int) -> str:
    """A titled small table under the comparison; its first ``left`` columns aligned left, the rest right."""
    align = ["l" if i < left else "" for i in range(len(headers))]
    trs = "".join("<tr>" + "".join(f'<td class="{a}">{_e(x)}</td>' for a, x in zip(align, line)) + "</tr>" for line in lines)
    head = "".join(f'<th class="{a}">{_e(x)}</th>' for a, x in zip(align, headers))
    return (f'<h3>{_e(title)}</h3><p class="caption">{_e(caption)}</p>'
            f'<div class="scroll" style="display:inline-block"><table class="small"><thead><tr>{head}</tr></thead>'
            f"<tbody>{trs}</tbody></table></div>")


def _html_timings(report: Report) -> str:
    rows = timing_rows(report.grid["timings"])
    if not rows:
        return "<p class=caption>No timings recorded for this grid (its last run had nothing left to do).</p>"
    trs = "".join(f'<tr class="{k}"><td class="l">{label}</td><td>{seconds(s)}</td><td>{share:.1%}</td></tr>'
                  for k, label, s, share in rows)
    when = datetime.datetime.fromtimestamp(report.grid["updated"]).astimezone().strftime("%Y-%m-%d %H:%M")
    return (f'<div class="scroll" style="display:inline-block"><table class="small"><thead><tr><th class="l">phase'
            f"</th><th>time</th><th>share</th></tr></thead><tbody>{trs}</tbody></table></div>"
            f'<p class="caption">Wall clock of the last <code>zoo benchmark</code> run of this grid ({when}); cells '
            "already done were skipped and do not count. Per-cell phases are summed over cells, so with "
            "<code>--jobs</code> &gt; 1 they overlap.</p>")


def _figure(img: Image, caption_html: str = "", cls: str = "") -> str:
    return (f'<figure class="{cls}"><img src="{_data_uri(img.png)}" alt="{_e(img.title)}">'
            + (f"<figcaption>{caption_html}</figcaption>" if caption_html else "") + "</figure>")


def to_html(report: Report) -> str:
    g = report.grid
    statuses = [r.status.split(" ")[0] for r in report.rows]
    chips = [f"{len(report.rows)} rows", *(f"{statuses.count(s)} {label}" for s, label in
             (("done", "done"), ("same", "same as another"), ("failed", "failed"), ("pending", "not run"))
             if s in statuses)]
    if g["timings"] and g["timings"].get("total"):
        chips.append(f"last run took {seconds(g['timings']['total'])}")
    parts = [
        f"<h1>zoo report: {_e(report.name)}</h1>",
        f'<p class="desc">{_e(g["description"])}</p>' if g["description"] else "",
        f'<div class="meta">grid file <code>{_e(g["path"])}</code> · results <code>{_e(report.db)}</code> · '
        f"generated {_e(report.generated)} · zoo {_e(report.version)}</div>",
        f'<div class="meta">data: {_e(data)}</div>' if (data := data_line(report)) else "",
        '<div class="chips">' + "".join(f'<span class="chip">{_e(c)}</span>' for c in chips) + "</div>",
        "<h2>Comparison</h2>", _html_table(report),
    ]
    if report.failed:
        parts.append("<h2>Failed cells</h2>")
        parts += [f"<p><b>{_e(label)}</b></p><pre>{_e(error)}</pre>" for label, error in report.failed]
    parts += ["<h2>Timings</h2>", _html_timings(report)]
    if report.charts:
        wide = len(chart_rows(report.rows, "fid")) > 8  # many bars: one chart per line
        parts += ["<h2>Metrics</h2>", '<p class="caption">Bars: mean over seeds, green the best; error bars: std over '
                  "seeds (when several). Lines: floor (dashed), ceiling (dotted), the real data's diversity "
                  "(dash-dot).</p>", '<div class="charts">' + "".join(_figure(c, cls="wide" if wide else "") for c in report.charts) + "</div>"]
    if report.loss:
        parts += ["<h2>Loss curves</h2>", _figure(report.loss, _e(report.loss.caption))]
    if report.curves:
        parts += ["<h2>Learning curves</h2>", *(_figure(c, _e(c.caption)) for c in report.curves)]
    if report.samples:
        parts += ["<h2>Samples</h2>", '<div class="samples">' + "".join(
            _figure(s, f"<b>{_e(s.title)}</b> · {_e(s.caption)}") for s in report.samples) + "</div>"]
    parts.append(f"<footer>zoo {_e(report.version)} · {_e(report.generated)}</footer>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>zoo report: {_e(report.name)}</title><style>\n{CSS}</style></head>\n"
            f"<body><main>\n" + "\n".join(p for p in parts if p) + "\n</main></body></html>\n")
