"""Grid files: a base run spec, named variants, axes and seeds, expanded into benchmark cells.

A grid (TOML)::

    name = "study"
    seeds = [0]                       # or a count: seeds = 3  ->  [0, 1, 2]
    preset = "study"                  # optional: cells sit on a named preset (zoo.config.recipe), not the data's recipe
    jobs = 2                          # optional: cells run at once by default, splitting the cores (--jobs overrides)
    [budget]                          # per cell: steps and/or minutes (whichever ends first)
    steps = 600
    [base.data]                       # any run-spec section: model, diffusion, data, train, eval
    size = 16
    [variants]                        # name -> overrides ("section.key" = value); {} is the base itself
    base = {}
    resnet = { "model.block" = "resnet" }
    study = { preset = "study" }      # a variant may name its own preset
    [axes]                            # optional: every variant is crossed with every combination
    "diffusion.schedule" = ["linear", "cosine"]
    [compare]                         # optional: how the table judges the variants (docs/benchmark.md)
    reference = "base"                # every variant is compared with this one, paired by seed
    primary = "kid"                   # the metric of the verdicts; default KID below 2,000 images, else FID
    margin = 5.0                      # equivalence margin in the primary metric's units (default: from its noise; 0: none)
    also = ["fid", "recall"]          # optional: verdicts on further metrics too, corrected together with the primary's

A cell is (variant, axis values, seed). Cells whose resolved specs are identical (the study's
GELU-only ConvNeXt, whose activations already are GELU) share one hash and are run once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.config.resolve import ResolvedSpec, resolve
from zoo.config.spec import from_dict, merge, read_toml, with_recipe
from zoo.errors import UserError, did_you_mean
from zoo.plugins import installed
from zoo.registry import Registry

GRID_KEYS = ("name", "description", "seeds", "budget", "base", "variants", "axes", "compare", "preset", "jobs")
COMPARE_KEYS = ("reference", "primary", "margin", "also")


@dataclass
class Cell:
    name: str  # variant, then axis values: "resnet" or "resnet schedule=cosine"
    variant: str
    overrides: dict[str, Any]  # dotted key -> value, variant and axes together
    seed: int
    label: str  # the name, plus the seed when the grid has several
    spec: ResolvedSpec
    hash: str
    duplicate_of: str | None = None  # the label of the first cell with the same hash


@dataclass
class Grid:
    name: str
    description: str
    path: str
    cells: list[Cell] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # [compare]: reference, primary
    registry: Registry | None = field(default=None, repr=False, compare=False)  # what its cells were resolved with
    jobs: int = 1  # cells run at once unless --jobs says otherwise (small cells use the cores better one thread each)

    def unique(self) -> list[Cell]:
        """One cell per distinct spec: the cells to actually run."""
        return [c for c in self.cells if c.duplicate_of is None]


def _dotted(overrides: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        if not dot or not name:
            raise UserError(f"{where}: override keys are 'section.key' (e.g. \"model.block\"), got '{key}'")
        nested.setdefault(section, {})[name] = value
    return nested


def _axis_label(key: str, value: Any) -> str:
    return f"{key.split('.')[-1]}={value}"


def check_grid_name(name: str, where: str | Path) -> None:
    """A grid name becomes a report folder (``RESULTS/report/<name>/``): no hidden, parent or nested folder."""
    if not name.strip() or name[0] in ". " or any(c in name for c in "/\\") or not name.isprintable():
        raise UserError(f"{where}: grid name {name!r} cannot name a report folder; use letters, digits, '-' and '_', "
                        "not starting with '.' (e.g. name = \"study\")")


def load_grid(path: str | Path, registry: Registry | None = None, seeds: list[int] | None = None) -> Grid:
    """Read, validate and expand a grid file (with ``seeds`` instead of the file's, when given: the rounds
    of ``--until-resolved``). Every cell is resolved against ``registry`` (once) before anything runs."""
    path = Path(path)
    data = read_toml(path)
    for key in data:
        if key not in GRID_KEYS:
            raise UserError(f"{path}: unknown grid key '{key}'{did_you_mean(key, GRID_KEYS)}; grid keys: {', '.join(GRID_KEYS)}")
    seeds = data.get("seeds", [0]) if seeds is None else seeds
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise UserError(f"{path}: seeds must be a count (3) or a list of integers ([0, 1, 2]), got {seeds!r}")
    budget = data.get("budget", {})
    unknown = set(budget) - {"steps", "minutes", "epochs"}
    if unknown:
        raise UserError(f"{path}: [budget] takes steps, epochs and/or minutes, not {', '.join(sorted(unknown))}")
    variants = data.get("variants") or {"base": {}}
    axes = data.get("axes", {})
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{path}: axis '{key}' must be a non-empty list of values")
    base = merge(data.get("base", {}), {"train": dict(budget)} if budget else {})
    registry = installed(registry)
    grid = Grid(name=str(data.get("name", path.stem)), description=str(data.get("description", "")), path=str(path),
                settings=_compare_settings(data.get("compare", {}), path), registry=registry)
    check_grid_name(grid.name, path)
    grid.jobs = data.get("jobs", 1)
    if isinstance(grid.jobs, bool) or not isinstance(grid.jobs, int) or grid.jobs < 1:
        raise UserError(f"{path}: jobs must be a whole number of processes >= 1 (e.g. jobs = 2), got {grid.jobs!r}")
    first_by_hash: dict[str, str] = {}
    for variant, overrides in variants.items():
        if not isinstance(overrides, dict):
            raise UserError(f"{path}: variant '{variant}' must be a table of overrides, e.g. {{ \"model.block\" = \"resnet\" }}")
        for combo in itertools.product(*axes.values()) if axes else [()]:
            axis_overrides = dict(zip(axes, combo))
            name = " ".join([variant, *(_axis_label(k, v) for k, v in axis_overrides.items())])
            all_overrides = {**overrides, **axis_overrides}
            preset = all_overrides.get("preset", data.get("preset"))
            dotted = {k: v for k, v in all_overrides.items() if k != "preset"}
            for seed in seeds:
                spec_dict = merge(base, _dotted(dotted, f"{path}: variant '{variant}'"))
                spec_dict = merge(spec_dict, {"train": {"seed": seed}})
                try:
                    spec = resolve(from_dict(with_recipe(spec_dict, preset)), registry)
                except UserError as err:
                    raise UserError(f"{path}: cell '{name}': {err}") from None
                cell_hash = spec.hash()
                label = name if len(seeds) == 1 else f"{name} [seed {seed}]"
                grid.cells.append(
                    Cell(name, variant, all_overrides, seed, label, spec, cell_hash, first_by_hash.get(cell_hash))
                )
                first_by_hash.setdefault(cell_hash, label)
    reference = grid.settings.get("reference")  # a variant (compared at each combination of the axes) or a cell
    if reference is not None and reference not in {c.name for c in grid.cells} | {c.variant for c in grid.cells}:
        names = list(dict.fromkeys([*(c.variant for c in grid.cells), *(c.name for c in grid.cells)]))
        raise UserError(f"{path}: compare.reference '{reference}' is neither a variant nor a cell of this grid"
                        f"{did_you_mean(reference, names)}; variants and cells: {', '.join(names)}")
    _check_judged_metrics(grid, path)
    return grid


def _check_judged_metrics(grid: Grid, path: Path) -> None:
    """compare.primary and compare.also name metrics the cells score and rank, checked before anything runs
    (the verdicts come after the whole grid has trained) by the comparison's own checks."""
    from zoo.bench.judged import choose_primary, further_metrics
    from zoo.metrics.columns import metric_columns

    primary, also = grid.settings.get("primary"), grid.settings.get("also", ())
    if (primary is None and not also) or grid.registry is None:
        return
    columns = metric_columns((m for c in grid.cells for m in c.spec.eval.metrics), grid.registry)
    try:
        if primary is not None:
            choose_primary(columns, [], primary)
        further_metrics(columns, primary, also)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None


def _compare_settings(compare: Any, path: Path) -> dict[str, Any]:
    if not isinstance(compare, dict) or set(compare) - set(COMPARE_KEYS):
        unknown = sorted(set(compare) - set(COMPARE_KEYS)) if isinstance(compare, dict) else [str(compare)]
        raise UserError(f"{path}: [compare] takes {', '.join(COMPARE_KEYS)}, not {', '.join(unknown)}")
    margin = compare.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < float("inf")):
        raise UserError(f"{path}: compare.margin must be a number >= 0 in the units of the primary metric (e.g. margin = 5; "
                        f"0 turns equivalence verdicts off), got {margin!r}")
    also = compare.get("also", [])
    if not isinstance(also, list) or not all(isinstance(k, str) for k in also):
        raise UserError(f"{path}: compare.also must be a list of metric names (e.g. also = [\"fid\", \"recall\"]), got {also!r}")
    return {k: float(v) if k == "margin" else list(v) if k == "also" else str(v) for k, v in compare.items()}


def default_grid_path() -> Path:
    """``benchmarks/grids/default.toml`` of this checkout (or of the current folder)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "benchmarks" / "grids" / "default.toml"
        if candidate.is_file():
            return candidate
    raise UserError("no grid file given and benchmarks/grids/default.toml not found; pass --grid FILE")
