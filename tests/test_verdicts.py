"""A grid's verdicts end to end: an injected effect is judged ``worse``, an identical variant ``equivalent``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from zoo.bench.executors import LocalExecutor
from zoo.bench.grid import load_grid
from zoo.bench.runner import DB_NAME, run_grid
from zoo.cli import main
from zoo.errors import UserError

GRID = """
    name = "injected"
    seeds = 3
    [budget]
    steps = 2
    [base.data]
    size = 8
    flip = false
    prepared = "PREPARED"
    [base.model]
    dim = 8
    dim_mults = [1, 2]
    heads = 2
    dim_head = 8
    groups = 4
    [base.diffusion]
    timesteps = 50
    [base.train]
    batch_size = 16
    [base.eval]
    sampler = "oracle"
    n = 60
    batch_size = 60
    metrics = ["kid", "fid"]
    [compare]
    reference = "base"
    [variants]
    base = {}
    noisy = { "eval.sampler" = "noisy_oracle" }   # the same samples, spoiled: must be worse
    same = { "eval.sampler" = "oracle_again" }    # another name for the oracle: a separate run, identical samples
"""


def oracle(noise: float):  # noqa: ANN201
    """A test sampler that returns real digits drawn with the sampling stream (a perfect generator, so
    the verdict does not depend on how well 2 training steps went), plus Gaussian noise of sd ``noise``."""
    from sklearn.datasets import load_digits

    digits = torch.from_numpy(load_digits().images).float().div(8).sub(1).unsqueeze(1)  # [0, 16] -> [-1, 1]

    def sample(model, diffusion, shape, *, generator=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        x = digits[torch.randint(len(digits), (shape[0],), generator=generator)]
        return (x + noise * torch.randn(x.shape, generator=generator)).clamp(-1, 1)

    return sample


@pytest.fixture
def samplers(registry, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(registry, "_components", dict(registry._components))  # undone after the test
    registry.add("sampler", "oracle", oracle(0.0), help="test: real digits")
    registry.add("sampler", "oracle_again", oracle(0.0), help="test: real digits under another name")
    registry.add("sampler", "noisy_oracle", oracle(2.0), help="test: real digits plus strong noise")
    return registry


@pytest.mark.slow
def test_an_injected_effect_is_worse_and_an_identical_variant_equivalent(
    tmp_path: Path, samplers, capsys: pytest.CaptureFixture  # noqa: ANN001
) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(textwrap.dedent(GRID).replace("PREPARED", str(tmp_path / "prepared")))
    results = tmp_path / "results"
    outcome = run_grid(load_grid(path), results, executor=LocalExecutor(jobs=1, threads=1), progress=False)
    assert outcome.failed == 0 and (results / DB_NAME).is_file()
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    verdicts = {c["name"]: c for c in comparison["contrasts"]}
    assert verdicts["noisy"]["verdict"] == "worse" and verdicts["noisy"]["ci_low"] > 0, verdicts
    # identical samples: every paired difference is 0, inside the default margin (2√2 x the metric's noise sd)
    assert verdicts["same"]["verdict"] == "equivalent" and verdicts["same"]["difference"] == 0
    assert comparison["primary"] == "kid" and comparison["noise"]["draws"] >= 2 and comparison["noise"]["sd"]["kid"] > 0
    assert comparison["margin"] == pytest.approx(2 * 2**0.5 * comparison["noise"]["sd"]["kid"])
    assert not verdicts["noisy"]["within_margin"] and verdicts["noisy"]["p_tost"] > 0.05
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table"]) == 0
    table = capsys.readouterr().out
    assert "vs base" in table and "worse" in table and "equivalent" in table and "metric noise" in table
    assert comparison["also"] == [] and "verdicts on every metric" not in table


@pytest.mark.parametrize(("body", "message"), [
    ('[compare]\nreference = "bsae"\n[variants]\nbase = {}\n', "compare.reference 'bsae' is neither a variant nor a cell of this grid; did you mean 'base'"),
    ('[compare]\nprimery = "kid"\n', r"\[compare\] takes reference, primary, margin, also, not primery"),
    ('[compare]\nalso = "fid"\n', r"compare.also must be a list of metric names .*got 'fid'$"),
    ('[compare]\nalso = ["fdi"]\n', r"compare names 'fdi', which is not a ranked metric the cells score; did you mean 'fid'"),
    ('[compare]\nprimary = "kid"\nalso = ["fid", "kid"]\n', r"compare.primary and compare.also name a metric twice"),
    ('[compare]\nalso = ["fid"]\n[base.eval]\nmetrics = ["kid"]\n', r"compare names 'fid', which is not a ranked metric .*add it to eval.metrics"),
    ('[compare]\nmargin = -1\n', r"compare.margin must be a number >= 0 in the units of the primary metric .*got -1$"),
    ('[compare]\nmargin = "5"\n', r"compare.margin must be a number >= 0 .*got '5'$"),
    ('[compare]\nmargin = true\n', r"compare.margin must be a number >= 0 .*got True$"),
    ('[compare]\nmargin = nan\n', r"compare.margin must be a number >= 0 .*got nan$"),
])
def test_compare_mistakes_are_user_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(body)
    with pytest.raises(UserError, match=message):
        load_grid(path)


def _row(name: str, variant: str, values: list[float]):  # noqa: ANN202
    from zoo.bench.table import Row

    row = Row(name, {}, list(range(len(values))), "done", variant=variant)
    row.per_seed = {seed: {"kid": v} for seed, v in enumerate(values)}
    row.values = {"kid": values}
    return row


def test_with_axes_each_variant_is_compared_with_the_reference_at_the_same_axis_values() -> None:
    from zoo.bench.verdicts import compare
    from zoo.bench.wording import contrast_text
    from zoo.contract import MetricColumn

    rows = [  # resnet: as good as base at linear, much worse at cosine, where base itself is better
        _row("base schedule=linear", "base", [10.0, 11.0, 12.0, 10.5]),
        _row("base schedule=cosine", "base", [5.0, 6.0, 7.0, 5.5]),
        _row("resnet schedule=linear", "resnet", [10.1, 11.1, 12.0, 10.4]),
        _row("resnet schedule=cosine", "resnet", [15.0, 16.2, 17.1, 15.4]),
    ]
    result = compare(rows, (MetricColumn("kid", better="low"),), reference="base")
    assert set(result.contrasts) == {"resnet schedule=linear", "resnet schedule=cosine"}
    assert result.reference_rows == {"base schedule=linear", "base schedule=cosine"}
    assert result.contrasts["resnet schedule=cosine"].verdict == "worse"
    assert result.contrasts["resnet schedule=cosine"].difference.mean == pytest.approx(10.05)
    assert result.contrasts["resnet schedule=linear"].verdict == "no evidence"
    assert contrast_text(result, rows[1]) == "reference"
    # a cell named as the reference is everyone's reference, as without axes
    by_cell = compare(rows, (MetricColumn("kid", better="low"),), reference="base schedule=linear")
    assert set(by_cell.contrasts) == {r.name for r in rows[1:]} and by_cell.reference_rows == {"base schedule=linear"}
    assert by_cell.contrasts["base schedule=cosine"].verdict == "better"


def test_a_grid_with_axes_accepts_a_variant_as_its_reference(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text('[compare]\nreference = "base"\n[variants]\nbase = {}\nrelu = { "model.activation" = "relu" }\n'
                    '[axes]\n"diffusion.schedule" = ["linear", "cosine"]\n')
    assert load_grid(path).settings["reference"] == "base"


def test_verdicts_and_table_do_not_import_each_other() -> None:
    """Row lives in zoo.bench.row, which both import; the verdicts never reach back into the table,
    not even for type checking (issue 23)."""
    import ast

    import zoo.bench.verdicts

    tree = ast.parse(Path(zoo.bench.verdicts.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "zoo.bench.row" in imported and "zoo.bench.table" not in imported


def test_the_reading_says_when_no_contrast_could_be_equivalent() -> None:
    """Seeds spread wider than the margin: the step-down is Bonferroni, and the reading says how a grid
    asks for Holm instead; with pairs tight enough to fit the margin, or with one contrast, it says nothing."""
    from zoo.bench.verdicts import compare
    from zoo.bench.wording import reading
    from zoo.contract import MetricColumn

    kid = (MetricColumn("kid", better="low"),)
    base = _row("base", "base", [10.0, 30.0, 20.0, 40.0])
    wide = [_row("a", "a", [15.0, 20.0, 35.0, 45.0]), _row("b", "b", [5.0, 40.0, 22.0, 30.0])]
    tight = [_row("a", "a", [10.5, 30.2, 20.1, 40.4]), wide[1]]

    def hint(rows, margin):  # noqa: ANN001, ANN202
        lines = reading(compare([base, *rows], kid, margin=margin), 4)
        return [line for line in lines if line.startswith("equivalence out of reach")]

    far = [_row("a", "a", [110.5, 130.2, 120.1, 140.4]), wide[1]]
    assert hint(wide, 2.0) == ["equivalence out of reach: each contrast's 90% interval is wider than ±2 or lies "
                               "outside it, so none can be equivalent and each better/worse p-value is corrected "
                               "for all 2 contrasts (Bonferroni), not by Holm's shrinking factors; a grid that asks "
                               "only better/worse sets compare.margin = 0 before it runs"]
    assert len(hint(far, 2.0)) == 1  # "a" is narrow but 100 away: it could not be equivalent either
    one_pair = _row("c", "c", [12.0])  # counts in the correction as in the line above it, and cannot be equivalent
    assert "corrected for all 3 contrasts" in hint([*wide, one_pair], 2.0)[0]
    assert "Holm-corrected together over 3 comparisons" in " ".join(reading(compare([base, *wide, one_pair], kid, margin=2.0), 4))
    assert hint(tight, 2.0) == []  # "a" fits inside ±2: equivalence was reachable
    assert hint(tight, 0.5) == []  # narrower than ±0.5 but not wholly inside: near reach, no hint
    assert hint(wide, 0) == []  # no margin: already Holm
    assert hint(wide[:1], 2.0) == []  # one contrast: no correction to speak of


def _rows_on(name: str, variant: str, **metrics: list[float]):  # noqa: ANN202
    from zoo.bench.row import Row

    seeds = range(len(next(iter(metrics.values()))))
    row = Row(name, {}, list(seeds), "done", variant=variant)
    row.per_seed = {s: {k: v[s] for k, v in metrics.items()} for s in seeds}
    row.values = dict(metrics)
    return row


def test_further_metrics_are_judged_in_the_primarys_family_and_shown_and_saved() -> None:
    """compare.also: each contrast on KID, FID and recall, the six hypotheses corrected together, so a p-value
    that passes alone on one metric (Holm over 2) can fail among six; the JSON reads back to the same lines."""
    from zoo.bench.verdicts import compare, comparison_from_dict
    from zoo.bench.wording import metric_verdict_lines, reading
    from zoo.contract import MetricColumn

    columns = (MetricColumn("fid", better="low"), MetricColumn("kid", better="low"), MetricColumn("recall", better="high"))
    base = _rows_on("base", "base", kid=[10.0, 12.0, 11.0, 13.0], fid=[50.0, 52.0, 51.0, 53.0], recall=[0.5, 0.6, 0.55, 0.5])
    vae = _rows_on("vae", "vae", kid=[30.0, 35.0, 31.0, 36.0], fid=[90.0, 95.0, 92.0, 99.0], recall=[0.3, 0.35, 0.3, 0.32])
    close = _rows_on("close", "close", kid=[10.9, 12.6, 11.3, 14.4], fid=[50.2, 51.7, 51.4, 53.1], recall=[0.52, 0.6, 0.56, 0.51])
    rows = [base, vae, close]
    result = compare(rows, columns, primary="kid", also=("fid", "recall"), margin=0)
    assert [m.column.key for m in result.also] == ["fid", "recall"]
    assert [result.contrasts["vae"].verdict, *(m.contrasts["vae"].verdict for m in result.also)] == ["worse"] * 3
    alone = compare(rows, columns, primary="kid", margin=0).contrasts["close"]
    together = result.contrasts["close"]
    assert together.p == alone.p and together.p_holm > alone.p_holm  # same test, more hypotheses to answer for
    headers, lines = metric_verdict_lines(result)
    assert headers == ["cell", "kid (primary)", "fid", "recall"] and [line[0] for line in lines] == ["vae", "close"]
    assert lines[0][1].endswith("worse") and lines[0][3].endswith("worse")
    assert "2 comparisons on 3 metrics (fid, recall too" in " ".join(reading(result, 4))
    again = comparison_from_dict(json.loads(json.dumps(result.to_dict())), columns)
    assert metric_verdict_lines(again) == (headers, lines)
    assert result.undecided() == ["close"] and "vae" not in result.undecided()
    # a contrast resolved on the primary but not on a further metric is still undecided: --until-resolved grows it
    mixed = _rows_on("mixed", "mixed", kid=[30.0, 35.0, 31.0, 36.0], fid=[50.0, 53.0, 50.0, 54.0], recall=[0.3, 0.35, 0.3, 0.32])
    both = compare([base, mixed], columns, primary="kid", also=("fid",), margin=0)
    assert both.contrasts["mixed"].verdict == "worse" and both.also[0].contrasts["mixed"].verdict == "no evidence"
    assert both.undecided() == ["mixed"]


def test_the_verdicts_on_every_metric_show_in_the_terminal_and_the_report() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from zoo.bench.report.html import _html_metric_verdicts
    from zoo.bench.report.markdown import _metric_verdicts
    from zoo.bench.table import render_metric_verdicts
    from zoo.bench.verdicts import compare
    from zoo.contract import MetricColumn

    columns = (MetricColumn("fid", better="low"), MetricColumn("kid", better="low"), MetricColumn("recall", better="high"))
    base = _rows_on("base", "base", kid=[10.0, 12.0, 11.0], fid=[50.0, 52.0, 51.0], recall=[0.5, 0.6, 0.55])
    vae = _rows_on("vae", "vae", kid=[30.0, 35.0, 31.0], fid=[90.0, 95.0, 92.0], recall=[0.3, 0.35, 0.3])
    result = compare([base, vae], columns, primary="kid", also=["recall"], margin=0)
    console = Console(width=200, record=True)
    console.print(render_metric_verdicts(result))
    text = console.export_text()
    assert "verdicts on every metric, vs base" in text and "kid (primary)" in text and "recall" in text
    markdown = "\n".join(_metric_verdicts(SimpleNamespace(comparison=result)))
    assert "### Verdicts on every metric" in markdown and "| vae | +" in markdown
    html = _html_metric_verdicts(SimpleNamespace(comparison=result))
    assert "<h3>Verdicts on every metric</h3>" in html and "kid (primary)</th>" in html and "worse</td>" in html
    assert render_metric_verdicts(compare([base, vae], columns, primary="kid")) is None  # no compare.also: no table
