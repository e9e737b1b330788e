"""Judge a grid's stored results again on more metrics: the verdicts ``compare.also`` would have given.

Reads a results file of ``benchmarks/default_grid.py`` (its ``table``: the ``zoo benchmark --json`` output
with every cell's per-seed scores, the metric noise and the sequential plan) and judges every contrast on
the grid's primary metric and on the ``--also`` metrics, all corrected together, as a grid with
``[compare] also = [...]`` does (:func:`zoo.bench.verdicts.compare`). Nothing is trained or scored again.
A grid asks for its metrics before it runs; a re-judged file must say that it chose them afterwards, and
why (``--why``).

    python benchmarks/rejudge.py benchmarks/results/emoji_minutes_grid.json --also fid,recall \\
        --why "issue 24's target names FID, KID and recall" --out benchmarks/results/emoji_minutes_rejudged.json

Writes the record (CPU, commit, torch, date of this script's run; the source file's own) and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from provenance import ROOT, provenance


def rows_of(table: dict[str, Any]) -> list[Any]:
    """The table's rows (reference rows aside) as :class:`zoo.bench.row.Row`, with their per-seed scores."""
    from zoo.bench.row import Row

    per_seed = table["per_seed"]
    rows = []
    for r in table["table"]["rows"]:
        row = Row(r["name"], r["overrides"], r["seeds"], r["status"], variant=r["name"].split(" ")[0], n=r["n"])
        row.per_seed = {int(seed): values for seed, values in per_seed.get(r["name"], {}).items()}
        row.values = {k: [v[k] for v in row.per_seed.values() if k in v] for k in {k for v in row.per_seed.values() for k in v}}
        rows.append(row)
    return rows


def main() -> None:
    from zoo.bench.verdicts import compare
    from zoo.bench.wording import metric_verdict_lines, reading
    from zoo.contract import MetricColumn
    from zoo.runtime.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a results file of benchmarks/default_grid.py")
    parser.add_argument("--also", required=True, help="further metrics, comma-separated (e.g. fid,recall)")
    parser.add_argument("--why", required=True, help="why these metrics, chosen after the grid ran")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    source = json.loads(args.source.read_text())
    table = source["table"]
    old = table["comparison"]
    columns = tuple(MetricColumn(**c) for c in table["columns"])
    result = compare(rows_of(source), columns, reference=old["reference"], primary=old["primary"],
                     also=args.also.split(","), noise=old["noise"], margin=None if old["margin_source"].endswith("(the default)")
                     else (old["margin"] or 0.0), sequential=old["sequential"])  # fmt: skip
    headers, lines = metric_verdict_lines(result)
    record = {**provenance(), "source": str(args.source.resolve().relative_to(ROOT)),
              "source_commit": source["commit"], "source_date": source["date"], "also": args.also.split(","),
              "chosen_after_the_run": args.why, "headers": headers, "lines": lines,
              "reading": reading(result, max(len(r["seeds"]) for r in table["rows"])), "comparison": result.to_dict()}
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(" | ".join(headers))
    for line in lines:
        print(" | ".join(line))


if __name__ == "__main__":
    main()
