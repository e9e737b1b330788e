"""The comparison table shows whatever metrics a grid asks for, as each metric describes itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_results import fake_grid
from zoo import get_registry
from zoo.bench.table import build_rows, render, sort_rows, table_columns
from zoo.cli import main
from zoo.contract import MetricColumn


class Sharpness:
    """A plugin metric with two values: sharpness (higher is better) and blur (lower is better)."""

    name = "sharp"
    columns = (MetricColumn("sharp", "sharpness", "high"), MetricColumn("blur", "blur", "low", digits=2))


@pytest.fixture
def plugin_metric(registry, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(registry, "_components", dict(registry._components))  # undone after the test
    registry.add("metric", "sharp", Sharpness, help="test metric")
    return registry


def _scores(variant: str, seed: int) -> dict[str, float]:
    shift = {"base": 0.0, "other": 1.0}[variant]
    return {"fid": 10 + shift + seed, "sharp": 5 - shift, "blur": 0.5 + shift}


def test_a_plugin_metric_has_its_columns_in_table_sort_and_json(
    tmp_path: Path, plugin_metric, capsys: pytest.CaptureFixture  # noqa: ANN001
) -> None:
    path, results, store = fake_grid(tmp_path, ["base", "other"], _scores, metrics=["fid", "sharp"])
    rows, _ = build_rows(store, "fake")
    keys = [c.key for c in table_columns(rows, get_registry())]
    assert keys[-3:] == ["fid", "sharp", "blur"] and "kid" not in keys
    assert [r.name for r in sort_rows(rows, "sharp", get_registry())] == ["base", "other"]  # high is better
    assert [r.name for r in sort_rows(list(reversed(rows)), "blur", get_registry())] == ["base", "other"]  # low is better
    headers = [c.header for c in render(rows, [], "t", get_registry()).columns]
    assert "sharpness ↑" in headers and "blur ↓" in headers and "FID ↓" in headers
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json", "--sort", "blur"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["blur"] for r in data["rows"]] == [0.5, 1.5]
    assert {"key": "sharp", "title": "sharpness", "better": "high"}.items() <= data["columns"][-2].items()


def test_a_metric_without_a_description_is_one_unranked_column(registry, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from zoo.metrics.columns import metric_columns

    monkeypatch.setattr(registry, "_components", dict(registry._components))
    registry.add("metric", "plain", lambda: object(), help="no columns")
    assert metric_columns(["kid", "plain", "gone"], get_registry()) == (
        MetricColumn("kid", "KID", "low", spread="kid_std"), MetricColumn("plain"), MetricColumn("gone"))
