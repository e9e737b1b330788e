"""Learning curves: points scored during training, stored with the results, resumed without loss or
repeats, looked up at equal training time (``--at``) and drawn in the report."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from zoo.bench.curves import At, parse_at, point_at
from zoo.bench.store import SCHEMA, Store
from zoo.errors import UserError
from zoo.spec import from_dict


def _point(step: int, seconds: float, kid: float) -> dict:
    return {"step": step, "train_seconds": seconds, "score_seconds": 0.5, "n": 20, "values": {"kid": kid, "kid_std": 0.1}}


def test_curve_settings_left_at_their_defaults_keep_the_hash_of_older_cells() -> None:
    # the hash of these specs before the curve settings existed (zoo at 2932aa5, whose defaults are
    # now --preset study with flips on; the recipe's settings are late defaults too)
    from zoo.recipe import with_recipe

    assert from_dict(with_recipe({"data": {"flip": True}}, "study")).hash() == "31d5a9371284b410"
    assert from_dict(with_recipe({"data": {"size": 8, "flip": True}}, "study")).hash() == "d5ebe0b4ab3abf9e"
    with_curve = from_dict({"data": {"size": 8}, "eval": {"curve_every": 5}})
    assert with_curve.hash() != "d5ebe0b4ab3abf9e"
    assert from_dict({"data": {"size": 8}, "eval": {"curve_every": 5, "curve_n": 100}}).hash() != with_curve.hash()


@pytest.mark.parametrize(("text", "expected"), [
    ("minutes=5", At("minutes", 5.0)), ("steps=400", At("steps", 400.0)), (" minutes = 0.5 ", At("minutes", 0.5)),
    (None, None),
])
def test_parse_at(text: str | None, expected: At | None) -> None:
    assert parse_at(text) == expected


@pytest.mark.parametrize("text", ["minutes", "hours=3", "minutes=0", "minutes=-1", "minutes=abc", "steps="])
def test_parse_at_mistakes_name_the_form(text: str) -> None:
    with pytest.raises(UserError, match="--at expects minutes=M or steps=N"):
        parse_at(text)


def test_point_at_takes_the_last_point_within_the_time_or_steps() -> None:
    points = [_point(10, 30.0, 5.0), _point(20, 61.0, 4.0), _point(30, 90.0, 3.0)]
    assert point_at(points, At("minutes", 1.0))["step"] == 10  # 61 s is past one minute
    assert point_at(points, At("minutes", 1.5))["step"] == 30
    assert point_at(points, At("minutes", 60.0))["step"] == 30  # a run that ended earlier: its last point
    assert point_at(points, At("minutes", 0.25)) is None
    assert point_at(points, At("steps", 25))["step"] == 20


def test_saving_a_curve_again_replaces_it_without_duplicates(tmp_path: Path) -> None:
    store = Store(tmp_path / "zoo.db")
    store.save_curve("h", [_point(2, 1.0, 9.0), _point(4, 2.0, 8.0)])
    store.save_curve("h", [_point(2, 1.0, 9.0), _point(4, 2.5, 8.0), _point(6, 3.0, 7.0)])
    assert [p["step"] for p in store.curve("h")] == [2, 4, 6]
    assert store.curve("h")[1] == _point(4, 2.5, 8.0)
    assert store.curve("other") == []


def test_a_database_written_before_curves_opens_and_gains_the_table(tmp_path: Path) -> None:
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS curve_points")[0] + SCHEMA.split("PRIMARY KEY (hash, step)\n);")[1]
    assert "curve_points" not in old_schema and "grid_runs" in old_schema
    db = sqlite3.connect(tmp_path / "zoo.db")
    db.executescript(old_schema)
    db.execute("INSERT INTO results VALUES ('h', '{}', 'done', NULL, 'runs/h', '{\"x\": 1}', 0)")
    db.commit()
    db.close()
    store = Store(tmp_path / "zoo.db")
    assert store.status("h") == "done" and store.curve("h") == []
    store.save_curve("h", [_point(2, 1.0, 9.0)])
    assert len(store.curve("h")) == 1
