"""What a grid's table concludes: every variant against the grid's reference variant on one primary
metric, paired by seed, with a verdict ``better`` / ``worse`` / ``no evidence`` corrected for the
number of variants (Holm), and the metric's own noise measured on real images.

The arithmetic is in :mod:`zoo.bench.stats`; this module knows rows, columns and grid settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.bench.row import Row
from zoo.bench.stats import Interval, holm, paired_t, verdict
from zoo.errors import UserError, did_you_mean
from zoo.hookspecs import MetricColumn

if TYPE_CHECKING:
    from zoo.bench.store import Store

FID_MIN_SAMPLES = 2000  # below this many images on either side FID's bias dominates: KID is the default


@dataclass(frozen=True)
class Contrast:
    """One variant minus the reference on the primary metric, over the seeds both finished."""

    name: str
    difference: Interval  # variant - reference (of the distance to real, for a "closest to real" metric)
    p: float  # paired t-test, two-sided
    p_holm: float  # Holm-adjusted across the grid's comparisons
    verdict: str  # better | worse | no evidence

    def to_dict(self) -> dict[str, Any]:
        d = self.difference
        return {"name": self.name, "difference": d.mean, "ci_low": d.low, "ci_high": d.high, "pairs": d.n,
                "p": self.p, "p_holm": self.p_holm, "verdict": self.verdict}


@dataclass
class Comparison:
    reference: str
    primary: MetricColumn | None
    why_primary: str
    contrasts: dict[str, Contrast] = field(default_factory=dict)  # row name -> contrast
    noise: dict[str, Any] | None = None  # see zoo.metrics.noise.metric_noise
    note: str = ""  # why there are no contrasts, when there are none
    reference_rows: set[str] = field(default_factory=set)  # the rows others were compared with

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "reference_rows": sorted(self.reference_rows),
                "primary": self.primary.key if self.primary else None,
                "why_primary": self.why_primary, "note": self.note, "noise": self.noise,
                "contrasts": [c.to_dict() for c in self.contrasts.values()]}


def choose_primary(columns: tuple[MetricColumn, ...], rows: list[Row], setting: str | None) -> tuple[MetricColumn | None, str]:
    """The grid's primary metric column and why: the grid's ``compare.primary``, else KID when either
    image set is smaller than FID_MIN_SAMPLES, else FID (docs/metrics.md), else the first ranked column."""
    ranked = {c.key: c for c in columns if c.better}
    if setting is not None:
        if setting not in ranked:
            raise UserError(f"compare.primary '{setting}' is not a ranked metric of this grid{did_you_mean(setting, ranked)}; "
                            f"choose one of: {', '.join(ranked) or 'none'}")
        return ranked[setting], "the grid's compare.primary"
    sizes = [n for r in rows for n in (r.n, r.n_real) if n]
    small = bool(sizes) and min(sizes) < FID_MIN_SAMPLES
    if "kid" in ranked and (small or "fid" not in ranked):
        return ranked["kid"], f"KID: fewer than {FID_MIN_SAMPLES} images per set ({min(sizes) if sizes else '?'}), where FID is biased"
    if "fid" in ranked:
        return ranked["fid"], f"FID: at least {FID_MIN_SAMPLES} images per set"
    first = next(iter(ranked.values()), None)
    return first, "the first ranked metric" if first else "no ranked metric"


def quantity(row: Row, column: MetricColumn) -> dict[int, float]:
    """Seed -> the value compared: the metric, or its distance to the real value for "closest to real"."""
    out = {}
    for seed, values in row.per_seed.items():
        value = values.get(column.key)
        if value is None:
            continue
        if column.better == "real" and column.real and values.get(column.real) is not None:
            value = abs(value - values[column.real])
        out[seed] = value
    return out


def compare(rows: list[Row], columns: tuple[MetricColumn, ...], *, reference: str = "base", primary: str | None = None,
            noise: dict[str, Any] | None = None) -> Comparison:  # fmt: skip
    """Every row but the reference against it, on the primary metric, paired by seed. ``reference`` names
    a row, or a variant: then, in a grid with axes, each row is compared with that variant's row at
    the same axis values (``resnet schedule=cosine`` with ``base schedule=cosine``)."""
    column, why = choose_primary(columns, rows, primary)
    result = Comparison(reference, column, why, noise=noise)
    by_name = {r.name: r for r in rows}
    bases = {row.name: base for row in rows if (base := reference_row(by_name, row, reference)) is not None}
    if column is None or not bases:
        result.note = "no ranked metric" if column is None else f"no variant '{reference}' to compare with (compare.reference)"
        return result
    result.reference_rows = {base.name for base in bases.values()}
    tests: dict[str, tuple[Interval, float]] = {}
    for row in rows:
        base = bases.get(row.name)
        if base is None or base is row:
            continue
        values, base_values = quantity(row, column), quantity(base, column)
        pairs = sorted(set(values) & set(base_values))
        if pairs:
            tests[row.name] = paired_t([values[s] - base_values[s] for s in pairs])
    adjusted = holm([p for _, p in tests.values()])
    better = "low" if column.better == "real" else column.better
    for (name, (interval, p)), p_holm in zip(tests.items(), adjusted):
        result.contrasts[name] = Contrast(name, interval, p, p_holm, verdict(interval, p_holm, better))
    if all(c.difference.n < 2 for c in result.contrasts.values()):
        result.note = "n=1, no CI: set seeds = 3 or more in the grid for verdicts"
    return result


def reference_row(by_name: dict[str, Row], row: Row, reference: str) -> Row | None:
    """The row ``row`` is compared with, among the rows ``by_name``: the one named ``reference``, else the
    reference variant's row with the same axis values as ``row`` (its name after the variant's); None when
    there is neither."""
    if reference in by_name:
        return by_name[reference]
    if row.variant is None or not row.name.startswith(row.variant):
        return None
    return by_name.get(reference + row.name[len(row.variant):])


def comparison_of(store: Store, grid: str, rows: list[Row], columns: tuple[MetricColumn, ...]) -> Comparison:
    """The comparison of a grid's rows, with the settings its file gave and its stored metric noise."""
    from zoo.bench.runner import noise_key

    settings = next((g["settings"] for g in store.grids() if g["grid"] == grid), {})
    keys = sorted({r.ref_key for r in rows if r.ref_key})
    noise = store.references(noise_key(keys[0])) if len(keys) == 1 else None  # one instrument, one noise
    return compare(rows, columns, reference=settings.get("reference", "base"), primary=settings.get("primary"),
                   noise=noise[0] if noise else None)


def contrast_text(comparison: Comparison, row: Row) -> str:
    """The ``vs base`` cell of a row: difference [95% CI] verdict."""
    if row.name in comparison.reference_rows:
        return "reference"
    c = comparison.contrasts.get(row.name)
    if c is None:
        return "-"
    d, digits = c.difference, comparison.primary.digits if comparison.primary else 3
    if d.half is None:
        return f"{d.mean:+.{digits}g} (n=1)"
    return f"{d.mean:+.{digits}g} [{d.low:+.{digits}g}, {d.high:+.{digits}g}] {c.verdict}"


def reading(comparison: Comparison, seeds: int) -> list[str]:
    """Lines under the table: what ± and the ``vs`` column mean, the metric's noise."""
    p = comparison.primary
    out = [f"± is the 95% confidence interval of the mean over {seeds} seeds (Student t)" if seeds > 1
           else "n=1, no CI: one seed per cell (set seeds = 3 or more for intervals and verdicts)"]
    if p is not None and not comparison.note:
        out.append(f"vs {comparison.reference}: paired difference of {p.title or p.key} ({comparison.why_primary}) "
                   f"with its 95% CI; verdict by paired t-test, Holm-corrected over {len(comparison.contrasts)} comparisons at 5%")
    elif comparison.note:
        out.append(comparison.note)
    noise = comparison.noise
    if noise and p is not None and p.key in noise["sd"]:
        sd = noise["sd"][p.key]
        out.append(f"metric noise: {p.title or p.key} of real vs real images at n={noise['n']} varies with sd {sd:.2g} "
                   f"over {noise['draws']} draws (mean {noise['mean'][p.key]:.3g}); two samples of one distribution "
                   f"differ by up to ±{2 * 2 ** 0.5 * sd:.2g}")
    return out
