"""The report of a benchmark grid: ``report.md`` and a self-contained ``report.html`` beside an ``img/``
folder of PNGs (one bar chart per metric, the loss curves, the sample grid of every cell).

The numbers are the rows of :mod:`zoo.bench.table`, the ones ``zoo benchmark`` prints; this module only
lays them out. The metrics are FID (Heusel et al. 2017), KID (Bińkowski et al. 2018), IS (Salimans et
al. 2016), precision/recall (Kynkäänniemi et al. 2019) and diversity, each shown against a floor (real
images) and a ceiling (uniform noise) scored with the same extractor and number of samples.

The HTML embeds every image as a base64 data URI and its CSS inline, so the one file can be mailed or
opened offline; the Markdown links the PNGs in ``img/`` by relative path, so the folder can be moved.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.bench.runner import DB_NAME
from zoo.bench.store import Store
from zoo.bench.table import (
    COLUMNS,
    METRIC_KEYS,
    Column,
    Row,
    best,
    build_rows,
    cell_text,
    fmt,
    overrides_text,
    sort_rows,
)
from zoo.errors import UserError, did_you_mean

REPORT_FILES = ("report.md", "report.html", "img")
BEST_COLOUR, BAR_COLOUR = "#2e9e44", "#7b9cc4"
FLOOR_STYLE = {"color": "#333333", "linestyle": "--", "linewidth": 1.2}
CEILING_STYLE = {"color": "#c0392b", "linestyle": ":", "linewidth": 1.5}
REAL_STYLE = {"color": "#8e44ad", "linestyle": "-.", "linewidth": 1.2}
PHASES = (  # (timings key, what it covers)
    ("prepare", "data preparation (once per dataset)"),
    ("references", "floor and ceiling reference rows"),
    ("train", "training, summed over cells (model build, steps, checkpoints)"),
    ("train_steps", "&nbsp;&nbsp;of which optimisation steps"),
    ("sample", "sampling, summed over cells"),
    ("evaluate", "scoring, summed over cells (features, metrics)"),
)


@dataclass
class Image:
    """One PNG of the report: its file name in ``img/``, a title and its bytes."""

    file: str
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Report:
    grid: dict[str, Any]  # one entry of Store.grids(): grid, path, description, timings, updated
    db: Path
    rows: list[Row]
    refs: list[Row]
    charts: list[Image] = field(default_factory=list)
    loss: Image | None = None
    samples: list[Image] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell label, error)
    generated: str = ""
    version: str = ""

    @property
    def name(self) -> str:
        return self.grid["grid"]

    def images(self) -> list[Image]:
        return [*self.charts, *([self.loss] if self.loss else []), *self.samples]


# -- reading the database ---------------------------------------------------------------------------
def open_store(results: str | Path) -> Store:
    """The results database of ``results`` (never created here: a missing one is a user mistake)."""
    db = Path(results) / DB_NAME
    if not db.is_file():
        raise UserError(f"no results database at {db}; run `zoo benchmark --grid FILE --results {results}` first "
                        "(or pass --results DIR of an earlier run)")
    return Store(db)


def pick_grid(store: Store, name: str | None) -> dict[str, Any]:
    """The grid called ``name``, or the most recently run one."""
    grids = store.grids()
    if not grids:
        raise UserError(f"{store.path} holds no grid; run `zoo benchmark --grid FILE --results {store.path.parent}` first")
    if name is None:
        return grids[0]
    for g in grids:
        if g["grid"] == name:
            return g
    known = [g["grid"] for g in grids]
    raise UserError(f"no grid '{name}' in {store.path}{did_you_mean(name, known)}; grids there: {', '.join(known)}")


def _run_file(results: Path, run_dir: str, name: str) -> Path | None:
    """A file of a run folder: ``results/runs/<hash>/`` first, then the folder as the database recorded it
    (relative to wherever the benchmark ran, so it may not resolve from here)."""
    for folder in (results / "runs" / Path(run_dir).name, Path(run_dir)):
        if (folder / name).is_file():
            return folder / name
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "cell"


# -- charts -----------------------------------------------------------------------------------------
def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def ref_name(ref: Row, refs: list[Row]) -> str:
    """A reference row's name, with its n when the grid scored cells at several n (one floor/ceiling each)."""
    return f"{ref.name} (n={ref.n})" if len({r.n for r in refs}) > 1 else ref.name


def chart_rows(rows: list[Row], key: str) -> list[Row]:
    """The rows a chart shows: cells with a value, without the "same as X" duplicates (the same run)."""
    return [r for r in rows if r.status != "reference" and not r.status.startswith("same as") and r.mean(key) is not None]


def metric_chart(rows: list[Row], refs: list[Row], column: Column) -> bytes | None:
    """Bars of one metric (mean over seeds, error bar = std over seeds when there are several), the best
    bar green, the floor and ceiling (and for diversity the real data's value) as horizontal lines."""
    from matplotlib.figure import Figure

    shown = chart_rows(rows, column.key)
    if not shown:
        return None
    means = [r.mean(column.key) for r in shown]
    errors = [r.std(column.key) if len(r.values.get(column.key, [])) > 1 else 0.0 for r in shown]
    top = best(shown, column)
    fig = Figure(figsize=(max(5.6, 1.6 + 0.62 * len(shown)), 3.9), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(len(shown)), means, yerr=errors if any(errors) else None, capsize=4, ecolor="#333333",
                  color=[BEST_COLOUR if m == top else BAR_COLOUR for m in means], zorder=2)
    labels = ax.bar_label(bars, labels=[fmt(m, None, column.digits) for m in means], padding=2, fontsize=8, zorder=4)
    for label in labels:
        label.set_bbox({"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})
    for ref in refs:
        value = ref.mean(column.key)
        if value is not None:
            style = FLOOR_STYLE if ref.name.startswith("floor") else CEILING_STYLE
            ax.axhline(value, label=f"{ref_name(ref, refs)}: {fmt(value)}", zorder=3, **style)
    if column.key == "diversity":
        for real in sorted({r.mean("diversity_real") for r in shown} - {None}):
            ax.axhline(real, label=f"real data: {fmt(real)}", zorder=3, **REAL_STYLE)
    names = [r.name for r in shown]
    tilt = len(names) > 6 or max(map(len, names)) > 12
    ax.set_xticks(range(len(shown)), names, fontsize=8, rotation=35 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor")
    ax.set_title(column.title, fontsize=11, loc="left")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.12)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(fontsize=7.5, loc="outside lower center", ncol=2, frameon=False)
    return _png(fig)


def loss_chart(curves: list[tuple[str, str, list[dict[str, Any]]]]) -> bytes | None:
    """Training loss against step of every run on one log-scale figure: (cell label, row name, log.jsonl
    lines) each; one colour per row, one line style per seed."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    curves = [(label, name, [r for r in log if r.get("loss") and r["loss"] > 0]) for label, name, log in curves]
    curves = [c for c in curves if c[2]]
    if not curves:
        return None
    names = list(dict.fromkeys(name for _, name, _ in curves))
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    seen: dict[str, int] = {}
    for label, name, log in curves:
        nth = seen[name] = seen.get(name, -1) + 1
        ax.plot([r["step"] for r in log], [r["loss"] for r in log], label=label, color=palette(names.index(name) % 20),
                linestyle=("-", "--", ":", "-.")[nth % 4], marker="o" if len(log) < 20 else None, markersize=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)")
    ax.set_title("loss curves", fontsize=11, loc="left")
    ax.grid(which="both", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(fontsize=8, loc="outside right upper", frameon=False, ncol=1 + len(curves) // 24)
    return _png(fig)


# -- the report, in memory --------------------------------------------------------------------------
def build_report(results: str | Path = "results", grid: str | None = None, sort: str | None = None) -> Report:
    """Everything the report shows, read from ``results/zoo.db`` and the run folders beside it."""
    import zoo
    from zoo.io import read_log

    results = Path(results)
    store = open_store(results)
    info = pick_grid(store, grid)
    rows, refs = build_rows(store, info["grid"])
    rows = sort_rows(rows, sort)
    cells = store.grid_cells(info["grid"])
    if not any(c["status"] == "done" for c in cells):
        counts = {s: sum(1 for c in cells if (c["status"] or "pending") == s) for s in ("failed", "pending")}
        raise UserError(f"grid '{info['grid']}' has no finished cell in {store.path} ({counts['failed']} failed, "
                        f"{counts['pending']} not run); run `zoo benchmark --grid {info['path']} --results {results}` first")
    report = Report(info, store.path, rows, refs, version=zoo.__version__,
                    generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    report.failed = [(c["label"], c["error"] or "") for c in cells if c["status"] == "failed"]

    for column in COLUMNS:
        if column.key in METRIC_KEYS and (png := metric_chart(rows, refs, column)) is not None:
            report.charts.append(Image(f"{column.key}.png", column.title, png))

    # one entry per distinct run, in the order of the (possibly sorted) rows
    order = {r.name: i for i, r in enumerate(rows)}
    runs = sorted((c for c in cells if c["status"] == "done" and not c["duplicate_of"]),
                  key=lambda c: (order.get(c["name"], len(order)), c["position"]))
    curves, used = [], set()
    for c in runs:
        aliases = [d["label"] for d in cells if d["duplicate_of"] == c["label"]]
        log = _run_file(results, c["run_dir"], "log.jsonl")
        if log is not None:
            curves.append((c["label"], c["name"], read_log(log)))
        png = _run_file(results, c["run_dir"], "samples.png")
        if png is None:
            continue
        file = f"samples-{_slug(c['label'])}.png"
        if file in used:
            file = f"samples-{_slug(c['label'])}-{c['hash']}.png"
        used.add(file)
        fid = c["record"]["eval"]["rows"][0]["values"].get("fid") if c["record"] else None
        n = c["record"]["eval"]["rows"][0]["n_fake"] if c["record"] else None
        caption = " · ".join([overrides_text(c["overrides"]), *([f"FID {fmt(fid)}"] if fid is not None else []),
                              *([f"n={n}"] if n else [])])
        if aliases:
            caption += " · same run as " + ", ".join(aliases)
        report.samples.append(Image(file, c["label"], png.read_bytes(), caption))
    if (png := loss_chart(curves)) is not None:
        report.loss = Image("loss.png", "loss curves", png, "training loss of every run (log scale), from log.jsonl")
    return report


# -- shared pieces of the two renderings ------------------------------------------------------------
def _bests(report: Report) -> dict[str, float | None]:
    return {c.key: best(report.rows, c) for c in COLUMNS}


def caption(report: Report) -> str:
    """How to read the table."""
    counts = sorted({r.n for r in [*report.rows, *report.refs] if r.n})
    n = "n = " + "/".join(str(c) for c in counts) + " generated samples per score" if counts else "no scores yet"
    seeds = max((len(r.seeds) for r in report.rows), default=1)
    spread = ("± is the standard deviation over seeds (for a single-seed row, the KID/IS spread over subsets)"
              if seeds > 1 else "± is KID's and IS's own spread over subsets of the samples")
    return (f"{n}. Best value of each column in green (bold in Markdown); arrows say which way is better; "
            f"diversity is best closest to the real data's. {spread}. The floor row scores real training images "
            "against the real test images, the ceiling row uniform noise, with the same extractor and n: a model "
            "near the floor is as good as this evaluation can tell, one near the ceiling learned nothing. "
            "A \"same as X\" row has the same resolved spec as X, so it was run once.")


def timing_rows(timings: dict[str, float] | None) -> list[tuple[str, str, float, float]]:
    """(key, label, seconds, share of the total) of the last run, overhead (everything that is neither an
    optimisation step nor sampling) included."""
    if not timings or not timings.get("total"):
        return []
    total = timings["total"]
    rows = [(k, label, timings[k], timings[k] / total) for k, label in PHASES if k in timings]
    overhead = max(total - timings.get("train_steps", 0.0) - timings.get("sample", 0.0), 0.0)
    rows.append(("overhead", "overhead: everything but optimisation steps and sampling", overhead, overhead / total))
    rows.append(("total", "total wall clock", total, 1.0))
    return rows


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _status(row: Row) -> str:
    return f"{row.status}: {row.error}" if row.error else row.status


# -- Markdown ---------------------------------------------------------------------------------------
def _alt(text: str) -> str:
    """Text safe inside a Markdown image's [alt] (cell labels carry "[seed N]")."""
    return text.replace("[", "(").replace("]", ")")


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    g, bests = report.grid, _bests(report)
    out = [f"# zoo report: {report.name}", ""]
    if g["description"]:
        out += [f"> {_md(g['description'])}", ""]
    out += [f"Grid file `{g['path']}` · results `{report.db}` · generated {report.generated} · zoo {report.version}", ""]
    out += ["## Comparison", "", "| cell | overrides | " + " | ".join(c.title for c in COLUMNS) + " | status |",
            "|---|---|" + "---:|" * len(COLUMNS) + "---|"]
    for row in [*report.rows, *report.refs]:
        cells = []
        for c in COLUMNS:
            text, note, is_best = cell_text(row, c, bests)
            text = f"**{text}**" if is_best else text
            cells.append(f"{text} ({note})" if note else text)
        name = f"*{ref_name(row, report.refs)}*" if row.status == "reference" else row.name
        over = "" if row.status == "reference" else overrides_text(row.overrides)
        out.append("| " + " | ".join(_md(x) for x in [name, over, *cells, _status(row)[:120]]) + " |")
    out += ["", caption(report), ""]
    if report.failed:
        out += ["### Failed cells", ""]
        for label, error in report.failed:
            out += [f"- **{_md(label)}**", "", "  ```", *("  " + line for line in error.splitlines()), "  ```", ""]
    if timing := timing_rows(g["timings"]):
        out += ["## Timings", "", "| phase | time | share of total |", "|---|---:|---:|"]
        out += [f"| {label.replace('&nbsp;', '')} | {_seconds(s)} | {share:.1%} |" for _, label, s, share in timing]
        out += ["", "Wall clock of the last `zoo benchmark` run of this grid; cells already done were skipped and do "
                "not count. Per-cell phases are summed over cells (with --jobs > 1 they overlap).", ""]
    if report.charts:
        out += ["## Metrics", "", "Bars: mean over seeds (error bar: std over seeds). Lines: floor (dashed), "
                "ceiling (dotted), real data's diversity (dash-dot).", ""]
        out += [f"![{c.title}](img/{c.file})" for c in report.charts] + [""]
    if report.loss:
        out += ["## Loss curves", "", f"![loss curves](img/{report.loss.file})", ""]
    if report.samples:
        out += ["## Samples", ""]
        for s in report.samples:
            out += [f"### {s.title}", "", _md(s.caption), "", f"![samples of {_alt(s.title)}](img/{s.file})", ""]
    return "\n".join(out)


# -- HTML -------------------------------------------------------------------------------------------
CSS = """
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #dde2e8; --head: #f1f4f8; --best: #d6f5dc; --bestfg: #11602a; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fafbfc; line-height: 1.45;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1480px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 10px;
     padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.desc { font-size: 16px; margin: 2px 0 10px; } .meta { color: var(--muted); font-size: 13px; }
.meta code, code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eef1f5;
     padding: 1px 4px; border-radius: 3px; }
.chips { display: flex; gap: 8px; flex-wrap: wrap; margin: 14px 0 0; }
.chip { background: #fff; border: 1px solid var(--line); border-radius: 14px; padding: 3px 11px; font-size: 13px; }
.scroll { max-height: 75vh; overflow: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
table { border-collapse: separate; border-spacing: 0; width: 100%; font-size: 13.5px; }
th, td { padding: 6px 9px; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: top; }
thead th { position: sticky; top: 0; z-index: 1; background: var(--head); text-align: right; font-weight: 600;
     border-bottom: 2px solid #c9d1db; white-space: normal; vertical-align: bottom; min-width: 64px; }
thead th.l, td.l { text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover td { background: #f6f8fb; }
td.best { background: var(--best); color: var(--bestfg); font-weight: 700; }
td.over { color: var(--muted); white-space: normal; min-width: 140px; max-width: 260px; }
td.name { font-weight: 600; white-space: normal; min-width: 120px; max-width: 210px; }
td.status { white-space: normal; min-width: 96px; max-width: 220px; } .badge { white-space: nowrap; }
.note { display: block; color: var(--muted); font-size: 11.5px; font-weight: 400; }
tr.ref td { background: #f3f6fa; font-style: italic; color: #33475b; }
tr.ref.first td { border-top: 2px solid #c9d1db; }
tr.dup td { color: var(--muted); } tr.dup td.best { color: #4f8a5e; background: #eaf7ec; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.done { background: #e0f4e5; color: #1e6b35; } .failed { background: #fbe3e1; color: #a32a1d; }
.pending { background: #fdf3d8; color: #8a6100; } .same { background: #eceff3; color: #4b5563; }
.reference { background: #e3eefb; color: #24548f; }
.err, .sub { color: #a32a1d; font-size: 12px; margin-top: 3px; } .sub { color: var(--muted); }
.caption { color: var(--muted); font-size: 13px; margin: 8px 2px 0; max-width: 1100px; }
table.small { width: auto; } table.small td { text-align: right; font-variant-numeric: tabular-nums; }
table.small td.l { text-align: left; } table.small tr.total td { font-weight: 700; }
table.small tr.overhead td { background: #fff7e6; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
.charts figure.wide { grid-column: 1 / -1; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
figcaption b { color: var(--fg); }
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; }
.samples img { image-rendering: pixelated; width: auto; max-width: 100%; min-width: 160px; }
pre { background: #fff5f4; border: 1px solid #f1c9c4; border-radius: 6px; padding: 10px; overflow: auto;
      font-size: 12.5px; white-space: pre-wrap; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _badge(row: Row) -> str:
    if row.status.startswith("same as "):
        return f'<span class="badge same">same as</span><div class="sub">{_e(row.status[8:])}</div>'
    out = f'<span class="badge {_e(row.status.split()[0])}">{_e(row.status)}</span>'
    if row.error:
        short = row.error if len(row.error) <= 90 else row.error[:90] + "…"
        out += f'<div class="err" title="{_e(row.error)}">{_e(short)}</div>'
    return out


def _html_table(report: Report) -> str:
    bests = _bests(report)
    head = '<th class="l">cell</th><th class="l">overrides</th>' + "".join(f"<th>{_e(c.title)}</th>" for c in COLUMNS)
    body = []
    for i, row in enumerate([*report.rows, *report.refs]):
        ref = row.status == "reference"
        cells = [f'<td class="l name">{_e(ref_name(row, report.refs) if ref else row.name)}</td>',
                 f'<td class="l over">{"" if ref else _e(overrides_text(row.overrides))}</td>']
        for c in COLUMNS:
            text, note, is_best = cell_text(row, c, bests)
            value, _, std = text.partition(" ± ")
            extra = "".join(f'<span class="note">{_e(x)}</span>' for x in (std and f"± {std}", note) if x)
            cells.append(f'<td class="num{" best" if is_best else ""}">{_e(value)}{extra}</td>')
        cells.append(f'<td class="l status">{_badge(row)}</td>')
        cls = ("ref first" if i == len(report.rows) else "ref") if ref else "dup" if row.status.startswith("same") else ""
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}<th class="l">status</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div><p class="caption">{_e(caption(report))}</p>')


def _html_timings(report: Report) -> str:
    rows = timing_rows(report.grid["timings"])
    if not rows:
        return "<p class=caption>No timings recorded for this grid (its last run had nothing left to do).</p>"
    trs = "".join(f'<tr class="{k}"><td class="l">{label}</td><td>{_seconds(s)}</td><td>{share:.1%}</td></tr>'
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
        chips.append(f"last run took {_seconds(g['timings']['total'])}")
    parts = [
        f"<h1>zoo report: {_e(report.name)}</h1>",
        f'<p class="desc">{_e(g["description"])}</p>' if g["description"] else "",
        f'<div class="meta">grid file <code>{_e(g["path"])}</code> · results <code>{_e(report.db)}</code> · '
        f"generated {_e(report.generated)} · zoo {_e(report.version)}</div>",
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
    if report.samples:
        parts += ["<h2>Samples</h2>", '<div class="samples">' + "".join(
            _figure(s, f"<b>{_e(s.title)}</b> · {_e(s.caption)}") for s in report.samples) + "</div>"]
    parts.append(f"<footer>zoo {_e(report.version)} · {_e(report.generated)}</footer>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>zoo report: {_e(report.name)}</title><style>{CSS}</style></head>\n"
            f"<body><main>\n" + "\n".join(p for p in parts if p) + "\n</main></body></html>\n")


# -- writing ----------------------------------------------------------------------------------------
def default_out(results: str | Path, grid: str) -> Path:
    return Path(results) / "report" / _slug(grid)


def _replaceable(out: Path) -> bool:
    """An existing folder may be replaced only if it is empty or an earlier report."""
    return out.is_dir() and all(p.name in REPORT_FILES or p.name.startswith(".") for p in out.iterdir())


def write_report(report: Report, out: str | Path) -> list[Path]:
    """Write the report folder: everything goes to a temporary folder beside ``out`` which then replaces
    ``out`` by renames, so a reader never sees a half-written report or images of an older one."""
    out = Path(out)
    if out.exists() and not _replaceable(out):
        raise UserError(f"'{out}' exists and is not a zoo report folder; pass --out to an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it owner-only; reports are meant to be shared
    try:
        (tmp / "img").mkdir()
        for img in report.images():
            (tmp / "img" / img.file).write_bytes(img.png)
        (tmp / "report.md").write_text(to_markdown(report))
        (tmp / "report.html").write_text(to_html(report))
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / "report.md", out / "report.html", *(out / "img" / img.file for img in report.images())]
