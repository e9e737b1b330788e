"""The table columns of named metrics, as each registered metric describes itself
(:class:`zoo.contract.MetricColumn`): no list in zoo names the metrics a table may show."""

from __future__ import annotations

from collections.abc import Iterable

from zoo.contract import MetricColumn, optional
from zoo.registry import Registry


def metric_columns(names: Iterable[str], registry: Registry) -> tuple[MetricColumn, ...]:
    """The columns of each named metric, in order. A metric without ``columns`` (or no longer
    registered, e.g. an uninstalled plugin whose scores are in a database) is one unranked column."""
    out: list[MetricColumn] = []
    for name in dict.fromkeys(names):
        described = optional("metric", registry.create("metric", name), "columns") if ("metric", name) in registry else None
        out.extend(described or (MetricColumn(name),))
    return tuple(out)
