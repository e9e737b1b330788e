"""How much of a grid cell's score is its training seed and how much its sampling noise.

Reads rows of ``sampler_steps.py`` (the same trained runs, each sampled from several noise draws,
``--seeds 0,1,2``; offset 0 is the draw the grid itself scored) and splits the spread of one spec's
scores over its training seeds into the part that a new draw of samples from the same weights
reproduces (the within-run sd, pooled) and the part the training seed adds (between-run variance of
the runs' means, less the within part's share of it). Writes a results file with the rows, the
split and where it ran (``provenance.py``).

    python benchmarks/quality/sampler_steps.py RUN0,RUN1,RUN2,RUN3,RUN4 --steps 40 --seeds 0,1,2 --out rows.jsonl
    python benchmarks/quality/noise_split.py rows.jsonl --what "..." --out benchmarks/results/NAME.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import provenance  # noqa: E402

from zoo.runtime.io import atomic_write_text  # noqa: E402

METRICS = ("kid", "fid", "precision", "recall")


def split(rows: list[dict], metric: str) -> dict[str, float]:
    """Within-run sd (pooled over runs), sd of the runs' means, and the training seed's sd implied by them:
    var(means) = var(training) + var(within) / draws."""
    by_run: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_run[row["run"]].append(row[metric])
    draws = {len(v) for v in by_run.values()}
    if len(by_run) < 2 or min(draws) < 2:
        sys.exit(f"need at least 2 runs with at least 2 draws each, got {len(by_run)} runs with {sorted(draws)} draws")
    within = statistics.fmean(statistics.variance(v) for v in by_run.values())
    means = [statistics.fmean(v) for v in by_run.values()]
    between = statistics.variance(means)
    training = max(between - within / statistics.fmean(len(v) for v in by_run.values()), 0.0)
    return {"runs": len(by_run), "draws_per_run": min(draws), "mean": statistics.fmean(means),
            "within_sd": within**0.5, "between_sd": between**0.5, "training_sd": training**0.5}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rows", help="JSON lines from sampler_steps.py: the same runs at several --seeds")
    p.add_argument("--what", default="", help="what the runs are, for the record")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line.strip()]
    samplings = {(r["sampler"], r["steps"], r.get("spacing"), json.dumps(r.get("options"), sort_keys=True)) for r in rows}
    if len(samplings) != 1:
        sys.exit(f"{args.rows}: rows of {len(samplings)} samplings (sampler, steps, spacing, options); "
                 "split one at a time: only the noise draw may differ between a run's rows")
    record = {**provenance(), "what": args.what, "rows": rows,
              "split": {m: split(rows, m) for m in METRICS if all(m in r for r in rows)}}
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    for metric, s in record["split"].items():
        print(f"{metric}: mean {s['mean']:.4g}, within-run sd {s['within_sd']:.3g}, between-run sd {s['between_sd']:.3g}, "
              f"training seed sd {s['training_sd']:.3g}")


if __name__ == "__main__":
    main()
