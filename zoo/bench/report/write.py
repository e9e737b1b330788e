"""The report folder on disk: ``report.md``, ``report.html`` and ``img/``, swapped in as a whole."""

from __future__ import annotations

from pathlib import Path

from zoo.bench.report.build import Report, slug
from zoo.bench.report.html import to_html
from zoo.bench.report.markdown import to_markdown
from zoo.errors import UserError
from zoo.runtime.io import atomic_folder

REPORT_FILES = ("report.md", "report.html", "img")


def default_out(results: str | Path, grid: str) -> Path:
    return Path(results) / "report" / slug(grid)


def _replaceable(out: Path) -> bool:
    """An existing folder may be replaced only if it is empty or an earlier report."""
    return out.is_dir() and all(p.name in REPORT_FILES or p.name.startswith(".") for p in out.iterdir())


def write_report(report: Report, out: str | Path) -> list[Path]:
    """Write the report folder: everything goes to a temporary folder beside ``out`` which then replaces
    ``out`` by renames, so a reader never sees a half-written report or images of an older one."""
    out = Path(out)
    if out.exists() and not _replaceable(out):
        raise UserError(f"'{out}' exists and is not a zoo report folder; pass --out to an empty or new folder")
    with atomic_folder(out) as tmp:
        (tmp / "img").mkdir()
        for img in report.images():
            (tmp / "img" / img.file).write_bytes(img.png)
        (tmp / "report.md").write_text(to_markdown(report))
        (tmp / "report.html").write_text(to_html(report))
    return [out / "report.md", out / "report.html", *(out / "img" / img.file for img in report.images())]
