"""Regenerate every generated block of README.md and docs/*.md from the results file it names.

A number in the docs comes from a committed file under ``benchmarks/results/`` that says where it was
measured (``provenance.py``: CPU model and flags, zoo's commit, torch, date). A block names its file
and what to render from it, and holds the rendered text:

    <!-- generated: benchmarks/results/default_grid.json grid_table -->
    | cell | overrides | ... |
    <!-- /generated -->

or inline, inside a sentence: ``took <!-- generated: benchmarks/results/default_grid.json wall -->14 min 2 s<!-- /generated -->``.
A block whose marker is followed by a line break is rendered between line breaks; an inline one stays
on its line. ``tests/test_docs_tables.py`` renders every block in memory and fails when one differs
from its file (no training, under a second).

    python benchmarks/docs_tables.py           # rewrite every stale block
    python benchmarks/docs_tables.py --check   # list the stale blocks, exit 1 if any
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import missing  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- generated: (?P<file>\S+) (?P<what>\w+)(?P<args>(?: [^ >]+)*) -->(?P<body>.*?)<!-- /generated -->", re.S)


def documents(root: Path = ROOT) -> list[Path]:
    """The files whose generated blocks this script keeps: the README and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# -- what a results file renders to ---------------------------------------------------------------
def _pick(record: dict[str, Any], candidate: str | None) -> dict[str, Any]:
    """The record of one grid run: the file's own, or its candidate ``candidate`` (default_grid_candidates.json)."""
    if candidate is None:
        return record
    entry = next((c for c in record["candidates"] if c["name"] == candidate), None)
    if entry is None:
        raise ValueError(f"no candidate '{candidate}'; candidates: {', '.join(c['name'] for c in record['candidates'])}")
    return entry


def _grid(record: dict[str, Any]) -> tuple[Any, Any]:
    """(the report in memory, its comparison) of a grid's results file: the rows rebuilt from the per-seed
    values it recorded, the comparison from its ``--json``, so the text is the table's own (zoo report)."""
    from zoo.bench.report.build import Report
    from zoo.bench.row import Column, Row
    from zoo.bench.verdicts import comparison_from_dict

    table = record["table"]
    columns = tuple(Column(**c) for c in table["columns"])
    rows = []
    for r in table["rows"]:
        per_seed = {int(seed): values for seed, values in record["per_seed"][r["name"]].items()}
        row = Row(r["name"], r["overrides"], r["seeds"], r["status"], n=r["n"], per_seed=per_seed,
                  feature_identity=r.get("feature_identity"), error=r["error"])
        for values in per_seed.values():
            for key, value in values.items():
                row.values.setdefault(key, []).append(value)
        rows.append(row)
    refs = [Row(r["name"], {}, [], "reference", n=r["n"], values={c.key: [r[c.key]] for c in columns if r.get(c.key) is not None})
            for r in table["references"]]
    comparison = comparison_from_dict(table["comparison"], columns)
    grid = {"grid": table["grid"], "path": record.get("grid", ""), "description": "", "timings": record.get("timings")}
    return Report(grid, Path("results/zoo.db"), rows, refs, columns, comparison), comparison


def grid_table(record: dict[str, Any], candidate: str | None = None) -> str:
    """The comparison table, how to read it and the verdicts over training, as ``zoo report`` writes them."""
    from zoo.bench.report.markdown import comparison_markdown

    return comparison_markdown(_grid(_pick(record, candidate))[0]).strip()


def grid_verdicts(record: dict[str, Any], candidate: str | None = None) -> str:
    """One line per contrast: its difference, 95% CI and verdict (the table's ``vs`` column)."""
    from zoo.bench.wording import contrast_text

    report, comparison = _grid(_pick(record, candidate))
    return "\n".join(f"- `{row.name}`: {contrast_text(comparison, row)}" for row in report.rows
                     if row.name in comparison.contrasts)


def grid_timings(record: dict[str, Any], candidate: str | None = None) -> str:
    """Where the grid's wall clock went (the report's timings of its last run)."""
    from zoo.bench.report.build import seconds, timing_rows

    timings = _pick(record, candidate)["timings"]
    out = ["| phase | time | share |", "|---|---:|---:|"]
    out += [f"| {label.replace('&nbsp;', '')} | {seconds(s)} | {share:.1%} |" for _, label, s, share in timing_rows(timings)]
    return "\n".join(out)


def minutes(s: float) -> str:
    """A wall-clock duration as people say it: ``14 min 2 s``."""
    whole = round(s)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def wall(record: dict[str, Any]) -> str:
    """The whole command's wall clock, install included."""
    return minutes(record["wall_seconds"])


def wall_parts(record: dict[str, Any]) -> str:
    """The install and the grid apart, with the CPU time of all their processes (what they would take alone on one
    core: a machine shared with other jobs stretches the wall clock, not the work)."""
    cpu = record["cpu_seconds"]
    return (f"install {minutes(record['install_seconds'])}, grid {minutes(record['grid_seconds'])}; CPU time of all their "
            f"processes {minutes(cpu['install'])} and {minutes(cpu['grid'])}; load average during the run "
            f"{load_text(record['load_average_during'])}")


def load(record: dict[str, Any]) -> str:
    """The mean load average during the run (1-minute average; 2 = both cores busy)."""
    return f"{record['load_average_during']['mean']:.1f}"


def machine(record: dict[str, Any]) -> str:
    """Where and when: CPU, zoo's kind (and the caps that emulate it), threads, load, torch, commit, date."""
    caps = " ".join(f"{k}={v}" for k, v in record.get("isa_caps", {}).items())
    load = record.get("load_average_during") or record.get("load_average")
    return (f"{record['cpu']} ({record['cpus']} CPUs, zoo kind `{record['cpu_kind']}`" + (f", capped: `{caps}`" if caps else "")
            + f"), torch {record['torch']}, zoo commit `{record['commit'][:10]}`, {record['date'][:16].replace('T', ' ')}, "
            f"load average {load_text(load)}")


def machine_short(record: dict[str, Any]) -> str:
    """The CPU, zoo's kind and the mean load, for a sentence."""
    caps = ", capped" if record.get("isa_caps") else ""
    load = record.get("load_average_during") or {"mean": record["load_average"][0]}
    return f"{record['cpu']} (zoo kind `{record['cpu_kind']}`{caps}, load average {load['mean']:.1f})"


def load_text(load: Any) -> str:
    if load is None:  # a record rebuilt after its run (its ``reconstructed`` says how)
        return "not recorded (the file's `reconstructed` says what ran beside it)"
    if isinstance(load, dict):  # sampled during the run
        return f"{load['mean']:.1f} (from {load['min']:.1f} to {load['max']:.1f}, {load['samples']} samples of the 1-minute average)"
    return f"{load[0]:.1f} (1 min)"


def run_label(run: dict[str, Any], seeds: list[int]) -> str:
    """A recorded run as a column header: its seeds, and its CPU kind when capped (an emulation)."""
    caps = run.get("isa_caps") or {}
    return f"seeds {','.join(map(str, seeds))}" + (f", `{run['cpu_kind']}` (capped)" if caps else f", `{run['cpu_kind']}`")


def repro_table(record: dict[str, Any]) -> str:
    """Two runs of one grid (other seeds, or another CPU kind): per variant, both differences and verdicts."""
    primary = record["primary"].upper()
    a, b = (run_label(run, seeds) for run, seeds in zip(record["runs"], record["seeds"]))
    out = [f"| variant | {a}: {primary} vs base | {b}: {primary} vs base |", "|---|---|---|"]
    for v in record["variants"]:
        cells = [f"{v[k + '_diff']:+.3g} [{v[k + '_ci'][0]:+.3g}, {v[k + '_ci'][1]:+.3g}] " + (f"**{v[k]}**" if v[k] != "no evidence" else v[k])
                 for k in ("a", "b")]
        out.append(f"| {v['variant']} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def repro_summary(record: dict[str, Any]) -> str:
    kinds = [sum(v[k] != "no evidence" for v in record["variants"]) for k in ("a", "b")]
    agree = sum(v["a"] == v["b"] for v in record["variants"])
    return (f"{record['contradictions']} contradictions; {agree} of {len(record['variants'])} verdicts identical; "
            f"resolved {kinds[0]} and {kinds[1]} of {len(record['variants'])}")


def same_numbers(record: dict[str, Any]) -> str:
    """Two commits' runs of one grid compared bit for bit (``same_numbers.py``)."""
    s = record["summary"]
    return (f"{s['identical']} of {s['cells']} cells bit-identical between `{record['old_commit'][:7]}` and "
            f"`{record['commit'][:7]}` (weights, EMA weights, samples, every logged loss, learning-curve points and scores)")


def old_new(record: dict[str, Any]) -> str:
    """Old and new checkouts timed in alternating rounds (``perf/old_new.py``): the per-round ratios."""
    train, sample = record["train_speedup_new_over_old"], record["sample_speedup_new_over_old"]
    med = record["median"]
    return (f"over {record['rounds']} rounds on {record['cpu']} (zoo kind `{record['cpu_kind']}`, {record['threads']} threads), "
            f"training {med['new']['train']:.0f} images/s after against {med['old']['train']:.0f} before "
            f"(per-round ratio after/before {train['median']:.2f}, from {train['min']:.2f} to {train['max']:.2f}) and sampling "
            f"{med['new']['sample']:.2f} ms/image against {med['old']['sample']:.2f} (speed ratio {sample['median']:.2f}, "
            f"from {sample['min']:.2f} to {sample['max']:.2f}); commits `{record['commits']['old']}` and `{record['commits']['new']}`")


def spec_walk(record: dict[str, Any]) -> str:
    """The spec's walk from ``zoo train`` to the first step, after and before the redesign (``spec_walk.py``)."""
    after, before = record["walks"]["after"], record["walks"]["before"]
    return (f"{after['modules']} modules with {after['moves']} moves, {after['back']} of them back to a module already "
            f"walked (`{after['commit']}`; before the redesign, `{before['commit']}`: {before['modules']} modules, "
            f"{before['moves']} moves, {before['back']} back)")


def quality_table(record: dict[str, Any]) -> str:
    """A time-to-quality run (``quality/run.py``): every cell's scores and sampling time, and the reference rows."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_run", ROOT / "benchmarks" / "quality" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.markdown(record["rows"], record["references"])


def curve_share(record: dict[str, Any], candidate: str | None = None) -> str:
    """What the learning curves cost: their scoring time against the optimisation steps'."""
    t = _pick(record, candidate)["timings"]
    return f"{minutes(t['curve'])} of scoring for {minutes(t['train_steps'])} of optimisation steps ({t['curve'] / t['train_steps']:.0%})"


def _floor(table: dict[str, Any], key: str) -> float:
    return next(r[key] for r in table["references"] if r["name"].startswith("floor"))


def fid_vs_floor(table: dict[str, Any]) -> tuple[float, float, str]:
    """(the floor row's FID, the worst diffusion row's FID / floor, that row): has every diffusion cell learned?"""
    floor = _floor(table, "fid")
    diffusion = [r for r in table["rows"] if r["overrides"].get("model.name") != "vae" and r.get("fid") is not None]
    worst = max(diffusion, key=lambda r: r["fid"])
    return floor, worst["fid"] / floor, worst["name"]


def verdict_counts(table: dict[str, Any]) -> str:
    contrasts = table["comparison"]["contrasts"]
    kinds = [c["verdict"] for c in contrasts]
    resolved = sum(k != "no evidence" for k in kinds)
    return f"{resolved} of {len(kinds)} resolved: " + ", ".join(f"{c['name']} {c['verdict']}" for c in contrasts)


def grid_verdict_counts(record: dict[str, Any], candidate: str | None = None) -> str:
    """How many contrasts were resolved, and each verdict."""
    return verdict_counts(_pick(record, candidate)["table"])


def grid_fid(record: dict[str, Any], candidate: str | None = None) -> str:
    """The diffusion cells' FID against the floor row's, the target of the default grid."""
    floor, ratio, name = fid_vs_floor(_pick(record, candidate)["table"])
    return f"{ratio:.2f}x the floor row's FID {floor:.3g} (the worst diffusion row, {name})"


def candidates_table(record: dict[str, Any]) -> str:
    """The default grid's candidates: budget, wall clock and load, FID against the floor, verdicts."""
    import tomllib

    out = ["| candidate | what it tried | steps x batch, width | cells | wall clock | threads | load average | "
           "worst diffusion FID / floor | verdicts |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for c in record["candidates"]:
        if _probe(c):
            continue
        grid = tomllib.loads(c["grid_toml"])
        train, model = grid.get("base", {}).get("train", {}), grid.get("base", {}).get("model", {})
        floor, ratio, name = fid_vs_floor(c["table"])
        cells = sum(len(r["seeds"]) for r in c["table"]["rows"])
        out.append(f"| {c['name']} | {c['note']} | {grid['budget']['steps']} x {train.get('batch_size', 32)}, "
                   f"{model.get('dim', 'recipe')} | {cells} | {minutes(c['wall_seconds'])} | {c['threads']} | "
                   f"{c['load_average']['mean']:.1f} | {ratio:.2f} ({name}) | {verdict_counts(c['table'])} |")
    return "\n".join(out)


def _probe(candidate: dict[str, Any]) -> bool:
    """A single-seed probe of budgets and widths, not a candidate grid."""
    return all(len(r["seeds"]) == 1 for r in candidate["table"]["rows"])


def probes_table(record: dict[str, Any]) -> str:
    """The single-seed probes: FID against the floor for each budget, batch and width, and the training speed."""
    out = ["| probe | cell | width | images seen | train img/s | FID | FID / floor | KID |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    import tomllib

    from zoo.bench.table import overrides_text

    for c in filter(_probe, record["candidates"]):
        grid = tomllib.loads(c["grid_toml"])
        floor = _floor(c["table"], "fid")
        for r in c["table"]["rows"]:
            over = {**{f"{section}.{k}": v for section in ("train", "model") for k, v in grid["base"].get(section, {}).items()},
                    **r["overrides"]}
            images = over.get("train.steps", grid["budget"]["steps"]) * over.get("train.batch_size", 32)
            width = over.get("model.dim", "32 (recipe)")
            out.append(f"| {c['name']} | {overrides_text(r['overrides'])} | {width} | {images:,} | {r['train_ips']:.0f} | {r['fid']:.3g} | "
                       f"{r['fid'] / floor:.2f} | {r['kid']:.3g} |")
    return "\n".join(out)


def grid_steps(record: dict[str, Any]) -> str:
    """Per variant, the steps each seed's cell trained and in how many minutes (``default_grid.py``'s ``cells``):
    under a minutes budget, what the same wall clock bought each design."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for cell in record["cells"]:
        by_variant.setdefault(cell["variant"], []).append(cell)
    out = []
    for variant, cells in by_variant.items():
        cells.sort(key=lambda c: c["seed"])
        steps = " / ".join(f"{c['steps']:,}" for c in cells)
        spent = " / ".join(f"{c['train_seconds'] / 60:.1f}" for c in cells)
        out.append(f"- `{variant}`: {steps} steps in {spent} min (seeds {', '.join(str(c['seed']) for c in cells)})")
    return "\n".join(out)


def grid_reused(record: dict[str, Any]) -> str:
    """The cells a grid took from an earlier run's results instead of training them (``default_grid.py --reuse``),
    by the grid they ran in: a verdict built partly on them is that grid's data judged again."""
    by_origin: dict[str, dict[str, list[int]]] = {}
    for cell in record.get("reused", []):
        origin = ", ".join(sorted({name.split(": ")[0] for name in cell["ran_as"]}))
        by_origin.setdefault(origin, {}).setdefault(cell["variant"], []).append(cell["seed"])
    if not by_origin:
        return "- every cell trained in this run"
    return "\n".join(f"- from `{origin}`: " + "; ".join(f"`{v}` (seeds {', '.join(map(str, sorted(seeds)))})" for v, seeds in variants.items())
                     for origin, variants in by_origin.items())


def recipe_probe_table(record: dict[str, Any]) -> str:
    """Recipe probes at equal minutes (``recipe_colour.json``): what each run saw and its scores at each sampler step
    count (and timestep spacing, where a row is not the sampler's default "trailing")."""
    out = ["| run | patch | batch | steps | images seen | train img/s | sampler steps | FID | KID | recall | sampling s / 1,000 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in record["runs"]:
        for f in r["final"]:
            out.append(f"| {r['run']} | {r['patch']} | {r['batch_size']} | {r['steps']:,} | {r['images_seen']:,} | {r['images_per_s']:.0f} | "
                       f"{f['steps']}{_spacing(f)} | {f['fid']:.1f} | {f['kid']:.1f} | {f['recall']:.3f} | {f['s_per_1000']:.1f} |")
    return "\n".join(out)


def noise_split(record: dict[str, Any]) -> str:
    """One spec's scores split into sampling noise and training seed (``quality/noise_split.py``), per metric."""
    out = ["| metric | runs x draws | mean | sd between draws (same weights) | sd between runs' means | training seed's sd |",
           "|---|---:|---:|---:|---:|---:|"]
    for metric, s in record["split"].items():
        out.append(f"| {metric.upper() if metric in ('kid', 'fid') else metric} | {s['runs']} x {s['draws_per_run']} | "
                   f"{s['mean']:.3g} | {s['within_sd']:.2g} | {s['between_sd']:.2g} | {s['training_sd']:.2g} |")
    return "\n".join(out)


def compile_training_table(records: list[dict[str, Any]]) -> str:
    """Every record of ``perf/compile_training.py``: per network, eager and compiled step times, the speed-up,
    the cold compile and the break-even (``zoo.train.compiled.PAYS_AFTER`` takes the most cautious of each)."""
    out = ["| recipe network, batch | precision | commit, date | rounds | eager / compiled, ms a step | "
           "speed-up per round, median (quartiles) | compile | pays after |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for record in records:
        commit = record["commit"][:7] + (" (uncommitted change)" if record.get("dirty") else "")
        for r in record["rows"]:
            network = f"{r['size']}x{r['size']} {'RGB' if r['channels'] == 3 else 'greyscale'}"
            network += f" (2x2 patches), {r['batch']}" if r["patch"] == 2 else f", {r['batch']}"
            ratio = r["speedup_per_round"]
            out.append(f"| {network} | {r['precision']} | {commit}, {record['date'][:10]} | {record['rounds']} | "
                       f"{r['eager_ms']:.1f} / {r['compiled_ms']:.1f} | {ratio['median']:.2f} ({ratio['q1']:.2f}-{ratio['q3']:.2f}) | "
                       f"{r['compile_s']:.0f} s{'' if record['cold_cache'] else ' (warm cache)'} | "
                       f"{r['pays_after_images']:,.0f} images, {r['pays_after_seconds']:,.0f} s |")
    return "\n".join(out)


def _draws_by(records: list[dict[str, Any]], key: Callable[[dict[str, Any]], tuple]) -> dict[tuple, list[dict[str, Any]]]:
    """The rows of every record grouped by ``key``, in the order the files first have them; within a group by noise draw
    (``seed_offset``), a draw scored twice (the same numbers: sampling is seeded) counted once."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        for r in record["rows"]:
            if all(row["seed_offset"] != r["seed_offset"] for row in groups.setdefault(key(r), [])):
                groups[key(r)].append(r)
    return {k: sorted(rows, key=lambda r: r["seed_offset"]) for k, rows in groups.items()}


def _means(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {k: sum(r[k] for r in rows) / len(rows) for k in ("fid", "kid", "recall")}


def guidance_draws_table(records: list[dict[str, Any]]) -> str:
    """Every record of ``quality/autoguidance.py`` in a file: one line per way of sampling (weight, interval,
    steps, epsilon scaling, sampler options), its FID on each noise draw and the means over them. The draws of a line are the same start
    noises as another line's with the same offsets, so two lines compare paired."""
    def way_of_sampling(r: dict[str, Any]) -> tuple:
        interval = tuple(r["interval"]) if "interval" in r else None
        options = {**r.get("options", {})}
        scale = r.get("eps_scale", options.pop("eps_scale", 1.0))  # older rows drew it as a sampler option
        scaled = {"eps_scale": scale, **({"eps_max_sigma": r["eps_max_sigma"]} if "eps_max_sigma" in r else {})} if scale != 1 else {}
        options = tuple(sorted({**options, **scaled}.items()))
        return r["run_step"], r["weight"], interval, r["steps"], r["sampler"], r.get("guide_step"), options

    out = ["| the run's step | guidance | guided where sigma is in | sampler, steps | draws | FID per draw | mean FID | "
           "mean KID | mean recall | s / 1,000 |", "|---:|---:|---|---|---|---|---:|---:|---:|---:|"]
    for (run_step, weight, interval, steps, sampler, guide_step, options), rows in _draws_by(records, way_of_sampling).items():
        mean = _means(rows)
        seconds = sorted(r["s_per_1000"] for r in rows)
        where = "-" if weight == 1 else "every noise level" if interval is None else "({:g}, {:g}]".format(*map(float, interval))
        guide = ("1 (unguided)" if weight == 1 else f"{weight:g} (guide: step {guide_step:,})" if guide_step is not None
                 else f"{weight:g} (guide: a weights file)")
        offsets, fids = [r["seed_offset"] for r in rows], ", ".join(f"{r['fid']:.1f}" for r in rows)
        draws = (f"{offsets[0]}-{offsets[-1]}" if offsets == list(range(offsets[0], offsets[-1] + 1)) and len(offsets) > 2
                 else ", ".join(map(str, offsets)))
        how = ", ".join([sampler, str(steps), *(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in options)])
        out.append(f"| {run_step:,} | {guide} | {where} | {how} | {draws} | "
                   f"{fids} | {mean['fid']:.1f} | {mean['kid']:.1f} | "
                   f"{mean['recall']:.3f} | {'-'.join(dict.fromkeys(f'{v:.0f}' for v in (seconds[0], seconds[-1])))} |")
    return "\n".join(out)


def calibration_table(records: list[dict[str, Any]]) -> str:
    """Every record of ``quality/eps_calibration.py`` in a file, side by side: per timestep, each run's least-squares
    scale of its noise prediction on the test images (1: calibrated; above 1: the prediction is too small), plain and
    as sampled (guided), with the relative error of the plain prediction."""
    runs = [f"{r['run_step']:,} steps" for r in records]
    out = ["| t | sigma | " + " | ".join(f"lambda, {run}" for run in runs) + " | " + " | ".join(f"lambda guided, {run}" for run in runs)
           + " | relative error |", "|---:|---:|" + "---:|" * (2 * len(runs) + 1)]
    for rows in zip(*(r["rows"] for r in records)):
        errors = sorted(row["rel_error"] for row in rows)
        out.append(f"| {rows[0]['t']} | {rows[0]['sigma']:.3g} | " + " | ".join(f"{row['lambda']:.3f}" for row in rows) + " | "
                   + " | ".join(f"{row.get('lambda_guided', row['lambda']):.3f}" for row in rows)
                   + f" | {'-'.join(dict.fromkeys(f'{e:.3f}' for e in (errors[0], errors[-1])))} |")
    return "\n".join(out)


def ema_lengths_table(records: list[dict[str, Any]]) -> str:
    """Every record of ``quality/ema_lengths.py draw`` in a file: per run, one line per EMA length and guide, its
    FID on each noise draw and the means. Lines of one run with the same draws are paired: the same start noise,
    only the averaging differs."""
    groups = _draws_by(records, lambda r: (r["run_step"], r["ema_std"], r["own"], r["guide"], r["guide_step"]))
    out = ["| the run's step | EMA std | guide | the guide's step | draws | FID per draw | mean FID | mean KID | mean recall |",
           "|---:|---|---|---:|---|---|---:|---:|---:|"]
    runs = list(dict.fromkeys(key[0] for key in groups))  # in the file's order; within a run, shortest average first
    for (run_step, std, own, guide, guide_step), rows in sorted(groups.items(), key=lambda kv: (
            runs.index(kv[0][0]), math.inf if kv[0][1] == "raw" else float(kv[0][1]), kv[0][4], kv[0][3])):
        mean = _means(rows)
        draws, fids = ", ".join(str(r["seed_offset"]) for r in rows), ", ".join(f"{r['fid']:.1f}" for r in rows)
        label = f"{std} (the spec's)" if own else std
        step = "" if guide == "none" else f"{guide_step:,}"
        out.append(f"| {run_step:,} | {label} | {guide} | {step} | {draws} | {fids} | {mean['fid']:.1f} | {mean['kid']:.1f} | "
                   f"{mean['recall']:.3f} |")
    return "\n".join(out)


def _spacing(final: dict[str, Any]) -> str:
    spacing = final.get("spacing", "trailing")
    return "" if spacing == "trailing" else f" ({spacing})"


RENDERERS: dict[str, Callable[..., str]] = {f.__name__: f for f in (grid_table, grid_verdicts, grid_timings, grid_fid, grid_reused, wall, wall_parts, load,
                                                                    machine, machine_short, grid_verdict_counts, curve_share, candidates_table, probes_table,
                                                                    repro_table, repro_summary, same_numbers, old_new,
                                                                    spec_walk, quality_table, grid_steps, recipe_probe_table, noise_split,
                                                                    compile_training_table, guidance_draws_table,
                                                                    calibration_table, ema_lengths_table)}
WHOLE_FILE = {"compile_training_table", "guidance_draws_table", "calibration_table", "ema_lengths_table"}  # renderers of every record of a file that keeps a list


# -- the blocks ---------------------------------------------------------------------------------------
def read_record(path: Path) -> dict[str, Any]:
    """A results file's record; of a file that keeps a list of runs (``quality/run.py``), the latest."""
    record = json.loads(path.read_text())
    return record[-1] if isinstance(record, list) else record


def load_record(path: Path, whole: bool = False) -> dict[str, Any] | list[dict[str, Any]]:
    """The record a block renders from (``whole``: every record of the file), refused when one does not say
    where it was measured."""
    if whole:
        data = json.loads(path.read_text())
        records = data if isinstance(data, list) else [data]
    else:
        records = [read_record(path)]
    for record in records:
        if lacks := missing(record):
            raise ValueError(f"{path}: lacks {', '.join(lacks)} (benchmarks/provenance.py): the docs may not quote it")
    return records if whole else records[0]


def render(match: re.Match, root: Path = ROOT) -> str:
    """The block of ``match`` with its text rendered from its file now."""
    if match["what"] not in RENDERERS:
        raise ValueError(f"unknown renderer '{match['what']}'; known: {', '.join(RENDERERS)}")
    record = load_record(root / match["file"], whole=match["what"] in WHOLE_FILE)
    text = RENDERERS[match["what"]](record, *match["args"].split())
    inline = not match["body"].startswith("\n")
    if inline and "\n" in text:
        raise ValueError(f"{match['what']} renders several lines: put its marker on a line of its own")
    body = text if inline else f"\n{text}\n"
    return f"<!-- generated: {match['file']} {match['what']}{match['args']} -->{body}<!-- /generated -->"


def regenerate(text: str, root: Path = ROOT) -> str:
    return MARKER.sub(lambda m: render(m, root), text)


def stale(root: Path = ROOT) -> list[str]:
    """``doc: file renderer`` of every block that differs from what its file renders."""
    out = []
    for doc in documents(root):
        for m in MARKER.finditer(doc.read_text()):
            if render(m, root) != m[0]:
                out.append(f"{doc.relative_to(root)}: {m['file']} {m['what']}{m['args']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the stale blocks (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        for line in (found := stale()):
            print(line)
        return 1 if found else 0
    for doc in documents():
        text = doc.read_text()
        if (new := regenerate(text)) != text:
            doc.write_text(new)
            print(f"rewrote {doc.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
