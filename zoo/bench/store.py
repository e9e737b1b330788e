"""The results database: one SQLite file per results folder (default ``results/zoo.db``).

The schema only grows: tables are created when missing, so a database written by an older zoo opens
(and gains the new tables) and an older zoo ignores the tables it does not know.

A cell's result is keyed by the hash of its resolved spec, so running a grid again skips what is
done, an interrupted grid resumes, and a changed spec is a new cell. Grids map their cell labels to
those hashes (two labels may share one hash: the duplicates a grid runs once). Only the process
driving the grid writes; workers return their records to it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo.runtime.io import disk_guard

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    hash TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,              -- done | failed
    error TEXT,
    run_dir TEXT,
    record TEXT,                       -- JSON: train summary, eval result, timings
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS grid_cells (
    grid TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    variant TEXT NOT NULL,
    seed INTEGER NOT NULL,
    overrides TEXT NOT NULL,
    hash TEXT NOT NULL,
    duplicate_of TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (grid, label)
);
CREATE TABLE IF NOT EXISTS refs (
    key TEXT PRIMARY KEY,              -- data hash, extractor, n, metrics
    grid TEXT NOT NULL,
    rows TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS curve_points (  -- learning curves (zoo.curves.score); added in schema 2
    hash TEXT NOT NULL,
    step INTEGER NOT NULL,
    train_seconds REAL NOT NULL,       -- optimisation time up to the step, scoring excluded
    score_seconds REAL NOT NULL,       -- time the point took to score
    n INTEGER NOT NULL,                -- samples scored
    "values" TEXT NOT NULL,            -- JSON: metric -> value
    PRIMARY KEY (hash, step)
);
CREATE TABLE IF NOT EXISTS grid_runs (
    grid TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    description TEXT,
    timings TEXT,                      -- JSON: wall-clock of the last run, by phase
    updated REAL NOT NULL,
    settings TEXT                      -- JSON: how the table compares cells (reference variant, primary metric)
);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)
            if "settings" not in {r["name"] for r in db.execute("PRAGMA table_info(grid_runs)")}:  # a database of zoo <= 0.1
                db.execute("ALTER TABLE grid_runs ADD COLUMN settings TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with disk_guard(self.path):  # SQLite rolls the transaction back; the error names the database
            db = sqlite3.connect(self.path, timeout=30)
            db.row_factory = sqlite3.Row
            try:
                with db:  # one transaction: committed on success, rolled back on error
                    yield db
            finally:
                db.close()

    # -- grids ------------------------------------------------------------------------------------
    def register_grid(self, grid: Any) -> None:
        """Record a grid's cells (replacing an older version of the same grid)."""
        with self._connect() as db:
            db.execute("DELETE FROM grid_cells WHERE grid = ?", (grid.name,))
            db.executemany(
                "INSERT INTO grid_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(grid.name, c.label, c.name, c.variant, c.seed, json.dumps(c.overrides), c.hash, c.duplicate_of, i)
                 for i, c in enumerate(grid.cells)],
            )
            db.execute("INSERT OR REPLACE INTO grid_runs (grid, path, description, timings, updated, settings) VALUES "
                       "(?, ?, ?, (SELECT timings FROM grid_runs WHERE grid = ?), ?, ?)",
                       (grid.name, grid.path, grid.description, grid.name, time.time(),
                        json.dumps(getattr(grid, "settings", {}))))

    def set_timings(self, grid: str, timings: dict[str, float]) -> None:
        with self._connect() as db:
            db.execute("UPDATE grid_runs SET timings = ?, updated = ? WHERE grid = ?", (json.dumps(timings), time.time(), grid))

    def grids(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM grid_runs ORDER BY updated DESC").fetchall()
        return [{**dict(r), "timings": json.loads(r["timings"]) if r["timings"] else None,
                 "settings": json.loads(r["settings"]) if r["settings"] else {}} for r in rows]

    def grid(self, name: str) -> dict[str, Any] | None:
        """The record :meth:`grids` holds for the grid ``name``, or None when it never ran here."""
        return next((g for g in self.grids() if g["grid"] == name), None)

    def grid_cells(self, grid: str) -> list[dict[str, Any]]:
        """The grid's cells in order, each with its result (status None when not run yet)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT g.*, r.status, r.error, r.run_dir, r.record, r.spec FROM grid_cells g "
                "LEFT JOIN results r ON r.hash = g.hash WHERE g.grid = ? ORDER BY g.position", (grid,)
            ).fetchall()
        out = []
        for r in rows:
            row = dict(r)
            row["overrides"] = json.loads(row["overrides"])
            row["record"] = json.loads(row["record"]) if row["record"] else None
            row["spec"] = json.loads(row["spec"]) if row["spec"] else None
            out.append(row)
        return out

    # -- results ----------------------------------------------------------------------------------
    def status(self, cell_hash: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT status FROM results WHERE hash = ?", (cell_hash,)).fetchone()
        return row["status"] if row else None

    def save_result(self, cell_hash: str, spec: dict[str, Any], *, status: str, run_dir: str,
                    record: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                (cell_hash, json.dumps(spec, sort_keys=True), status, error, run_dir,
                 json.dumps(record) if record is not None else None, time.time()),
            )

    # -- reference rows ---------------------------------------------------------------------------
    def references(self, key: str) -> list[dict[str, Any]] | None:
        with self._connect() as db:
            row = db.execute("SELECT rows FROM refs WHERE key = ?", (key,)).fetchone()
        return json.loads(row["rows"]) if row else None

    def save_references(self, key: str, grid: str, rows: list[dict[str, Any]]) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?)", (key, grid, json.dumps(rows), time.time()))

    # -- learning curves --------------------------------------------------------------------------
    def save_curve(self, cell_hash: str, points: list[dict[str, Any]]) -> None:
        """Replace the cell's points by ``points`` (the run folder's ``curve.jsonl``, already trimmed
        to what its checkpoint reached): a rerun never duplicates a step nor keeps a stale one."""
        with self._connect() as db:
            db.execute("DELETE FROM curve_points WHERE hash = ?", (cell_hash,))
            db.executemany(
                'INSERT INTO curve_points (hash, step, train_seconds, score_seconds, n, "values") VALUES (?, ?, ?, ?, ?, ?)',
                [(cell_hash, p["step"], p["train_seconds"], p["score_seconds"], p["n"], json.dumps(p["values"]))
                 for p in points],
            )

    def curve(self, cell_hash: str) -> list[dict[str, Any]]:
        """The cell's points in step order, as ``zoo.curves.score`` wrote them (empty without a curve)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM curve_points WHERE hash = ? ORDER BY step", (cell_hash,)).fetchall()
        return [{**{k: r[k] for k in ("step", "train_seconds", "score_seconds", "n")}, "values": json.loads(r["values"])}
                for r in rows]
