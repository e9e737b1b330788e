"""Does a grid's error rate stay at 5%? Simulated grids with known effects, judged by zoo's own verdict
procedure (:mod:`zoo.bench.procedure`, the code ``zoo benchmark`` runs), with and without seeds added
until resolved (``--until-resolved``).

A simulated grid has a reference and ``m`` variants; seed k of every variant shares the reference's
seed-k draw (what paired seeds do), so variant i minus the reference at seed k is
``effect_i + e_ik - e_0k``, Gaussian, with the paired-difference sd of the scenario, and the contrasts
of one grid are correlated through the shared reference, as in a real grid. Sizes are those of zoo's
digits grids (docs/benchmark.md): KID x1e3 paired differences with sd 6-25, effects from 0 to 80, and
the default equivalence margin 2√2 x 8.17, the KID noise sd measured at n = 450 on the default grid's
data. A verdict is wrong when it is ``better``/``worse`` on a null effect or with the wrong sign, or
an equivalence (``equivalent``, or ``within margin`` beside better/worse) on an effect at or outside
the margin. A grid is wrong when any of its verdicts is; the rate of wrong grids is the family-wise
error rate, with its Clopper-Pearson 95% interval.

    python benchmarks/sequential_sim.py [--grids 2000] [--seed 0] [--out benchmarks/results/sequential_sim.json]

Procedures compared on the same draws: ``fixed`` (one look at the grid's seeds), ``sequential``
(``--until-resolved``: Bonferroni over the schedule's looks, for 1 and 2 seeds per round) and
``naive`` (the same rounds, each look judged at the full 5% as if it were the only one: what the
correction prevents).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from zoo.bench.procedure import RESOLVED, judge, looks_of, schedule
from zoo.runtime.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
NOISE_SD = 8.17  # KID x1e3 of real vs real at n = 450 on the default grid's data; main() measures it again
MARGIN = 2 * 2**0.5 * NOISE_SD  # zoo's default margin for that grid (zoo.bench.verdicts.default_margin)
DOCS_RUN = ([-41.0, 80.5, -4.26, 10.8], [6.7, 17.9, 12.4, 8.7])  # docs/benchmark.md, 4 seeds: mean, sd of differences


def measured_noise() -> dict:
    """KID's own noise on the default grid's data at its n, as the runner measures it (zoo.metrics.noise)."""
    from zoo.bench.grid import load_grid
    from zoo.data.prepare import prepare
    from zoo.metrics.noise import metric_noise

    grid = load_grid(ROOT / "benchmarks" / "grids" / "study_recipe.toml")
    e = grid.cells[0].spec.eval
    data = prepare(grid.cells[0].spec.data, progress=False)
    return {"grid": "benchmarks/grids/study_recipe.toml", **metric_noise(data, e.n, feature=e.feature, metrics=["kid"])}


def scenarios(margin: float = MARGIN) -> dict[str, dict]:
    """Name -> effects and paired-difference sds of a grid's 4 contrasts (None: drawn per grid)."""
    return {
        "null": {"effects": [0.0] * 4, "sds": [12.0] * 4},  # the worst case of better/worse
        "at the margin": {"effects": [margin, -margin, margin, -margin], "sds": [8.0] * 4},  # of equivalent
        "nulls beside margins": {"effects": [0.0, 0.0, margin, -margin], "sds": [6.0] * 4},  # step-down gains
        "the documented run": {"effects": DOCS_RUN[0], "sds": DOCS_RUN[1]},
        "random": {"effects": None, "sds": None},  # effects from {0, ±m/2, ±m, ±2m, ±80}, sds U(6, 25)
    }


def draw(rng: np.random.Generator, scenario: dict, margin: float, seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """(effects (m,), paired differences (m, seeds)) of one grid."""
    effects, sds = scenario["effects"], scenario["sds"]
    if effects is None:
        choices = [0.0, margin / 2, margin, 2 * margin, 80.0]
        effects = [rng.choice(choices) * rng.choice([-1, 1]) for _ in range(4)]
        sds = list(rng.uniform(6, 25, 4))
    effects, sds = np.asarray(effects, float), np.asarray(sds, float)
    reference_sd = sds.min() / np.sqrt(2)  # the reference's own spread, shared by every contrast
    reference = rng.normal(0, reference_sd, seeds)
    variants = rng.normal(0, np.sqrt(sds**2 - reference_sd**2)[:, None], (len(sds), seeds))
    return effects, effects[:, None] + variants - reference[None, :]


def run_grid(differences: np.ndarray, counts: list[int], margin: float, mode: str) -> tuple[dict, list[int]]:
    """The verdicts of one grid and the seeds each contrast got: ``fixed`` judges the first count only;
    ``sequential`` and ``naive`` add seeds to undecided contrasts round by round (as zoo.bench.sequential)."""
    m, total = differences.shape
    have = [0] * m
    looks = looks_of(counts) if mode == "sequential" else None
    verdicts: dict = {}
    for count in counts if mode != "fixed" else counts[:1]:
        have = [have[i] if str(i) in verdicts and verdicts[str(i)].verdict in RESOLVED else count for i in range(m)]
        series = {str(i): [float(differences[i, s]) if s < have[i] else None for s in range(total)] for i in range(m)}
        verdicts = judge(series, "low", margin=margin, looks=looks)
        if all(v.verdict in RESOLVED for v in verdicts.values()):
            break
    return verdicts, have


def wrong(verdict, effect: float, margin: float) -> bool:  # noqa: ANN001
    """Whether a contrast's verdict contradicts its true effect (lower is better)."""
    if verdict.verdict in ("better", "worse") and (effect == 0 or (effect < 0) != (verdict.verdict == "better")):
        return True
    return verdict.within_margin and abs(effect) >= margin


def simulate(grids: int, scenario: dict, mode: str, *, seed: int = 0, first: int = 4, max_seeds: int = 8,
             per_round: int = 2, margin: float = MARGIN) -> dict:  # fmt: skip
    """Error rate of ``grids`` simulated grids of one scenario under one procedure (same seed: same draws)."""
    rng = np.random.default_rng(seed)
    counts = schedule(first, max_seeds, per_round)
    bad, resolved, seeds_used = 0, 0, 0
    for _ in range(grids):
        effects, differences = draw(rng, scenario, margin, max_seeds)
        verdicts, have = run_grid(differences, counts, margin, mode)
        bad += any(wrong(verdicts[str(i)], e, margin) for i, e in enumerate(effects))
        resolved += sum(v.verdict in RESOLVED for v in verdicts.values())
        seeds_used += sum(have)
    return {"grids": grids, "wrong_grids": bad, "error_rate": bad / grids, "ci": binomial_ci(bad, grids),
            "resolved_share": resolved / (4 * grids), "mean_seeds_per_variant": seeds_used / (4 * grids)}


def binomial_ci(k: int, n: int) -> list[float]:
    """Clopper-Pearson 95% interval of a proportion k/n."""
    from scipy.stats import binomtest

    interval = binomtest(k, n).proportion_ci(0.95, method="exact")
    return [interval.low, interval.high]


def provenance() -> dict:
    import platform

    import torch

    from zoo.runtime.cpu import current

    info = current()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    return {"cpu": info.model, "cpu_kind": info.kind, "commit": commit, "torch": torch.__version__,
            "python": platform.python_version(), "numpy": np.__version__,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=2000, help="simulated grids per scenario and procedure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sequential_sim.json"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    noise = measured_noise()
    margin = 2 * 2**0.5 * noise["sd"]["kid"]
    procedures = {"fixed (4 seeds)": ("fixed", 2), "sequential, 2 seeds a round": ("sequential", 2),
                  "sequential, 1 seed a round": ("sequential", 1), "naive, 2 seeds a round": ("naive", 2)}
    results = {}
    for name, scenario in scenarios(margin).items():
        results[name] = {}
        for label, (mode, per_round) in procedures.items():
            results[name][label] = simulate(args.grids, scenario, mode, seed=args.seed, per_round=per_round, margin=margin)
            r = results[name][label]
            print(f"{name:22s} {label:28s} wrong {r['error_rate']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]  "
                  f"resolved {r['resolved_share']:.2f}  seeds {r['mean_seeds_per_variant']:.2f}", file=sys.stderr)
    record = {**provenance(), "seconds": round(time.perf_counter() - start, 1),
              "settings": {"grids_per_cell": args.grids, "seed": args.seed, "contrasts": 4, "first_seeds": 4, "max_seeds": 8,
                           "alpha": 0.05, "margin": margin, "margin_source": "2√2 x the measured KID noise sd (noise)",
                           "noise": noise,
                           "scenarios": {k: {"effects": v["effects"], "sds": v["sds"]} for k, v in scenarios(margin).items()}},
              "results": results}
    atomic_write_text(Path(args.out), json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
