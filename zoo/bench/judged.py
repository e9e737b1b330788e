"""Which metrics a grid's verdicts judge: the primary (``compare.primary``, else a default from the image
counts) and the further ones (``compare.also``). Checked when a grid loads (:mod:`zoo.bench.grid`) and again
when its stored settings are compared (:mod:`zoo.bench.verdicts`); its own module, so the grid checks without
importing the verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.bench.row import Row
from zoo.contract import MetricColumn
from zoo.errors import UserError, did_you_mean

FID_MIN_SAMPLES = 2000  # below this many images on either side FID's bias dominates: KID is the default


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


def further_metrics(columns: tuple[MetricColumn, ...], primary: str | None, also: Sequence[str]) -> list[MetricColumn]:
    """The columns of ``compare.also``: ranked metrics the cells score, other than the ``primary`` (its key, None
    while the default is not chosen yet), each once. The grid runs this check when it loads
    (:mod:`zoo.bench.grid`), the comparison again on the settings a database stored."""
    ranked = {c.key: c for c in columns if c.better}
    out: list[MetricColumn] = []
    for key in also:
        if key not in ranked:
            raise UserError(f"compare names '{key}', which is not a ranked metric the cells score{did_you_mean(key, ranked)}; "
                            f"choose among {', '.join(ranked) or 'none'} (or add it to eval.metrics)")
        if key == primary or ranked[key] in out:
            raise UserError("compare.primary and compare.also name a metric twice: list each metric once")
        out.append(ranked[key])
    return out
