"""Beta schedules: valid for every registered name, the documented endpoints, and meanings frozen by value."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.cli import main
from zoo.diffusion.schedules import (
    alphas_cumprod,
    cosine_beta_schedule,
    linear_beta_schedule,
    log_snr,
    quadratic_beta_schedule,
    sigmoid_beta_schedule,
)
from zoo.errors import UserError

BUILT_INS = {
    "linear": linear_beta_schedule,
    "quadratic": quadratic_beta_schedule,
    "cosine": cosine_beta_schedule,
    "sigmoid": sigmoid_beta_schedule,
}


def _schedule_names() -> list[str]:
    from zoo.plugins import get_registry

    return get_registry().names("schedule")


def test_built_ins_are_registered_with_help(registry) -> None:
    for name, factory in BUILT_INS.items():
        component = registry.get("schedule", name)
        assert component.factory is factory
        assert component.help


@pytest.mark.parametrize("name", _schedule_names())
@pytest.mark.parametrize("timesteps", [1000, 500, 100])
def test_every_registered_schedule_is_a_valid_forward_process(registry, name: str, timesteps: int) -> None:
    betas = registry.create("schedule", name, timesteps)
    assert betas.dtype == torch.float64 and betas.shape == (timesteps,)
    assert (betas > 0).all() and (betas < 1).all()
    alpha_bar = alphas_cumprod(betas)
    assert (alpha_bar[1:] < alpha_bar[:-1]).all()  # strictly decreasing: every step adds noise
    assert alpha_bar[0] > 0.99 and alpha_bar[-1] < 0.01  # starts near data, ends near pure noise


@pytest.mark.parametrize("timesteps, start, end", [(1000, 1e-4, 0.02), (500, 2e-4, 0.04), (2000, 5e-5, 0.01)])
def test_linear_and_quadratic_endpoints_scale_with_1000_over_T(timesteps: int, start: float, end: float) -> None:
    for factory in (linear_beta_schedule, quadratic_beta_schedule):
        betas = factory(timesteps)
        assert betas[0].item() == pytest.approx(start, rel=1e-12)
        assert betas[-1].item() == pytest.approx(end, rel=1e-12)


def test_linear_is_linear_in_beta_and_quadratic_in_sqrt_beta() -> None:
    assert torch.allclose(linear_beta_schedule(1000).diff().diff(), torch.zeros(998, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(quadratic_beta_schedule(1000).sqrt().diff().diff(), torch.zeros(998, dtype=torch.float64), atol=1e-15)
    assert (quadratic_beta_schedule(1000)[1:-1] < linear_beta_schedule(1000)[1:-1]).all()  # a convex ramp


def test_cosine_follows_nichol_dhariwal() -> None:
    T, s = 1000, 0.008
    betas = cosine_beta_schedule(T)
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    assert 0.9999 < alphas_cumprod(betas)[0].item() < 1
    assert betas.max().item() == 0.999  # the last beta is clipped (alpha_bar(T) would be ~0)
    for t in (1, 250, 500, 900):  # alpha_bar_t = f(t) / f(0) where no beta was clipped
        assert alphas_cumprod(betas)[t - 1].item() == pytest.approx(f[t] / f[0], rel=1e-10)


def test_sigmoid_is_the_annotated_diffusion_schedule() -> None:
    betas = sigmoid_beta_schedule(1000)
    ramp = torch.sigmoid(torch.linspace(-6, 6, 1000, dtype=torch.float64))
    assert torch.allclose(betas, 1e-4 + (0.02 - 1e-4) * ramp, rtol=1e-12)
    assert betas[0].item() == pytest.approx(1e-4 + 0.0199 * (1 / (1 + math.exp(6))), rel=1e-9)
    assert (betas.diff() > 0).all()


def test_registered_meanings_are_frozen() -> None:
    """A registered name keeps its meaning forever: these sums fail loudly if a schedule changes."""
    a, d, n = 0.01, 0.02**0.5 - 0.01, 1000  # quadratic: sum of (a + d i / (n-1))^2 in closed form
    quadratic = n * (a * a + a * d + d * d * (2 * n - 1) / (6 * (n - 1)))
    # linear and sigmoid (a ramp symmetric about its middle) average (1e-4 + 0.02) / 2
    frozen = {"linear": 10.05, "quadratic": quadratic, "cosine": 12.441496417056, "sigmoid": 10.05}
    for name, factory in BUILT_INS.items():
        assert factory(1000).sum().item() == pytest.approx(frozen[name], rel=1e-6), name


def test_too_few_timesteps_is_a_user_error_naming_the_fix() -> None:
    with pytest.raises(UserError, match="timesteps.*cosine"):
        linear_beta_schedule(10)  # betas would reach 2.0
    with pytest.raises(UserError, match="positive whole number"):
        cosine_beta_schedule(0)
    assert (cosine_beta_schedule(10) < 1).all()


def test_log_snr_is_accurate_near_t_zero() -> None:
    betas = linear_beta_schedule(1000)
    alpha_bar = alphas_cumprod(betas)
    assert log_snr(betas)[0].item() == pytest.approx(math.log(0.9999 / 1e-4), rel=1e-9)
    assert torch.allclose(log_snr(betas)[10:], (alpha_bar / (1 - alpha_bar)).log()[10:], rtol=1e-9)


def test_cli_table_lists_every_schedule(capsys) -> None:
    assert main(["schedules", "--timesteps", "500"]) == 0
    out = capsys.readouterr().out
    for name in _schedule_names():
        assert name in out
    assert "0.0002" in out and "0.04" in out  # linear's scaled endpoints at T = 500


def test_cli_plot_is_written_atomically(tmp_path) -> None:
    path = tmp_path / "figs" / "schedules.png"
    assert main(["schedules", "--plot", str(path), "-T", "200"]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["schedules.png"]  # no temporary file left


def test_cli_plot_refuses_an_unknown_format(tmp_path, capsys) -> None:
    assert main(["schedules", "--plot", str(tmp_path / "out.nope")]) == 2
    assert "extension" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
