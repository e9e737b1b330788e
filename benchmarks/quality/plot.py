"""FID against wall-clock minutes from ``benchmarks/results/quality.json`` (written by ``run.py``).

One line per model and CPU kind with each budget's own sampler (the ``--prefix`` model's points come
from its single longest run; where two picked runs scored the same model, kind and budget, the later
one is drawn), the floor row as a dashed line; the CPU in the title, the kind in the legend when the
picked runs span more than one (an emulated kind is drawn dashed).

    python benchmarks/quality/plot.py [--entries=1,2,3] [--results R] [--out docs/img/quality/time_to_quality.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {"new": "default recipe", "old": "study recipe, width 16 (previous default)", "vae": "VAE baseline"}


def series(rows: list[dict]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(model, kind) -> (minutes, FID) of the rows scored with the model's own sampler, by minutes; a
    model with curve points (``--prefix``) is drawn from those. Rows carry their run's CPU kind as
    ``kind``; a later row replaces an earlier one of the same model, kind and budget."""
    curved = {(r["model"], r["kind"]) for r in rows if r.get("curve")}
    points: dict[tuple[str, str], dict[float, tuple[float, float]]] = {}
    for r in rows:
        key = (r["model"], r["kind"])
        if r.get("curve") if key in curved else r.get("own"):
            points.setdefault(key, {})[r["minutes"]] = (r["train_s"] / 60, r["fid"])
    return {key: sorted(by_budget.values()) for key, by_budget in points.items()}


def _kind(machine: dict) -> str:
    """The CPU kind of a run, marked when environment variables capped the instruction set."""
    return machine["kind"] + (" emulated" if machine.get("env") else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="benchmarks/results/quality.json")
    p.add_argument("--entries", default="-1", help="comma-separated runs of the file to draw together (default: the last)")
    p.add_argument("--out", default="docs/img/quality/time_to_quality.png")
    args = p.parse_args()
    from matplotlib.figure import Figure

    history = json.loads(Path(args.results).read_text())
    picked = [history[int(i)] for i in args.entries.split(",")]
    rows = [{**row, "kind": _kind(e["machine"])} for e in picked for row in e["rows"]]
    kinds = list(dict.fromkeys(_kind(e["machine"]) for e in picked))
    last = picked[-1]  # its floor, CPU model and date go on the chart
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.subplots()
    colours = {}
    for (model, k), points in series(rows).items():
        xs, ys = zip(*points, strict=True)
        label = LABELS.get(model, model) + (f" ({k})" if len(kinds) > 1 else "")
        colour = colours.setdefault(model, f"C{len(colours)}")
        ax.plot(xs, ys, marker="o", label=label, color=colour, linestyle="--" if "emulated" in k else "-")
    floor = next((v["fid"] for name, v in last["references"].items() if name.startswith("floor")), None)
    if floor is not None:
        ax.axhline(floor, linestyle="--", color="grey", label="floor (real train vs real test)")
        ax.axhline(1.5 * floor, linestyle=":", color="grey", label="1.5x floor (the target)")
    ax.set_xlabel("minutes of training (2 threads)")
    ax.set_ylabel("FID, digits CNN, n = 1,000 (lower is better)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{last['machine']['model']} ({', '.join(kinds)}), {last['started'][:10]}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
