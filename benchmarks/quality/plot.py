"""FID against wall-clock minutes from ``benchmarks/results/quality.json`` (written by ``run.py``).

One line per model with each budget's own sampler (the ``--prefix`` model's points come from its
single longest run), the floor row as a dashed line; the CPU of the run in the title.

    python benchmarks/quality/plot.py [--entries=-2,-1] [--results R] [--out docs/img/quality/time_to_quality.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {"new": "default recipe", "old": "study recipe, width 16 (previous default)", "vae": "VAE baseline"}


def series(rows: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """model -> (minutes, FID) of the rows scored with the model's own sampler, by minutes; a model
    with curve points (``--prefix``) is drawn from those."""
    curved = {r["model"] for r in rows if r.get("curve")}
    out: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.get("curve") if r["model"] in curved else r.get("own"):
            out.setdefault(r["model"], []).append((r["train_s"] / 60, r["fid"]))
    return {model: sorted(points) for model, points in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="benchmarks/results/quality.json")
    p.add_argument("--entries", default="-1", help="comma-separated runs of the file to draw together (default: the last)")
    p.add_argument("--out", default="docs/img/quality/time_to_quality.png")
    args = p.parse_args()
    from matplotlib.figure import Figure

    history = json.loads(Path(args.results).read_text())
    picked = [history[int(i)] for i in args.entries.split(",")]
    entry = {**picked[-1], "rows": [row for e in picked for row in e["rows"]]}  # floor and CPU: the last run's
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.subplots()
    for model, points in series(entry["rows"]).items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=LABELS.get(model, model))
    floor = next((v["fid"] for name, v in entry["references"].items() if name.startswith("floor")), None)
    if floor is not None:
        ax.axhline(floor, linestyle="--", color="grey", label="floor (real train vs real test)")
        ax.axhline(1.5 * floor, linestyle=":", color="grey", label="1.5x floor (the target)")
    ax.set_xlabel("minutes of training (2 threads)")
    ax.set_ylabel("FID, digits CNN, n = 1,000 (lower is better)")
    ax.set_ylim(bottom=0)
    machine = entry["machine"]
    ax.set_title(f"{machine['model']} ({machine['kind']}), {entry['started'][:10]}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
