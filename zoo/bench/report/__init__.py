"""The report of a benchmark grid: ``report.md`` and a self-contained ``report.html`` beside an ``img/``
folder of PNGs (one bar chart per metric, the loss curves, the sample grid of every cell).

The numbers are the rows of :mod:`zoo.bench.table`, the ones ``zoo benchmark`` prints; this package only
lays them out. The metrics are FID (Heusel et al. 2017), KID (Bińkowski et al. 2018), IS (Salimans et
al. 2016), precision/recall (Kynkäänniemi et al. 2019) and diversity, each shown against a floor (real
images) and a ceiling (uniform noise) scored with the same extractor and number of samples.

The HTML embeds every image as a base64 data URI and its CSS inline, so the one file can be mailed or
opened offline; the Markdown links the PNGs in ``img/`` by relative path, so the folder can be moved.

One module per step: ``build`` (the report in memory, read from the results database and run folders),
``charts`` (matplotlib PNGs), ``markdown``, ``html`` (with ``report.css``, package data) and ``write``
(the folder, swapped in atomically).
"""

from zoo.bench.report.build import Image, Report, build_report, timing_rows
from zoo.bench.report.charts import chart_rows
from zoo.bench.report.html import to_html
from zoo.bench.report.markdown import to_markdown
from zoo.bench.report.write import default_out, write_report

__all__ = ["Image", "Report", "build_report", "chart_rows", "default_out", "timing_rows", "to_html", "to_markdown",
           "write_report"]
