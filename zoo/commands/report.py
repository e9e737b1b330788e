"""``zoo report [--results DIR] [--grid NAME]``: a Markdown and a self-contained HTML report of a grid.

Writes ``report.md``, ``report.html`` (images embedded, inline CSS: one file to mail or archive) and
``img/`` (the comparison charts, loss curves and sample grids as PNGs) to ``RESULTS/report/<grid>/``,
from the results database ``zoo benchmark`` filled; nothing is trained or scored again.
"""

from __future__ import annotations

import argparse

ORDER = 90


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a Markdown + HTML report (table, charts, samples) of a grid",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results folder of `zoo benchmark` (default: results)")
    p.add_argument("--grid", default=None, metavar="NAME", help="grid name (default: the most recently run grid)")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default: RESULTS/report/<grid>/)")
    p.add_argument("--sort", default=None, metavar="KEY", help="sort rows by a column (fid, kid, is, diversity, ...)")
    p.add_argument("--at", default=None, metavar="minutes=M",
                   help="rank at equal training time (minutes=M) or steps (steps=N) on the learning curves")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from zoo.bench.report import build_report, default_out, write_report
    from zoo.curves.compare import parse_at

    report = build_report(args.results, args.registry, grid=args.grid, sort=args.sort, at=parse_at(args.at))
    out = args.out or default_out(args.results, report.name)
    paths = write_report(report, out)
    for path in paths[:2]:  # plain print: paths stay whole (no wrapping) for copy-paste and scripts
        print(f"wrote {path}")
    print(f"wrote {len(paths) - 2} images to {paths[0].parent / 'img'}")
    return 0
