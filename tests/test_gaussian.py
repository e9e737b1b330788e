"""GaussianDiffusion: buffers, forward process statistics, Bayes posterior, objective conversions, the loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo import get_registry
from zoo.config.spec import DiffusionSpec
from zoo.diffusion.gaussian import GaussianDiffusion
from zoo.diffusion.schedules import alphas_cumprod, cosine_beta_schedule, linear_beta_schedule
from zoo.errors import UserError

BUFFERS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
    "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "snr",
)


def _diffusion(**kwargs) -> GaussianDiffusion:
    return GaussianDiffusion(linear_beta_schedule(1000), **kwargs)


class Oracle(nn.Module):
    """Knows the clean batch, so it recovers the exact noise from (x_t, t) and returns the true target."""

    def __init__(self, diffusion: GaussianDiffusion, x0: torch.Tensor, error: float = 0.0) -> None:
        super().__init__()
        self.diffusion, self.x0, self.error = diffusion, x0, error
        self.seen_t: torch.Tensor | None = None

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen_t = t
        d, x0 = self.diffusion, self.x0.double()
        ab = d.alphas_cumprod.double()[t].view(-1, 1, 1, 1)
        eps = (x_t.double() - ab.sqrt() * x0) / (1 - ab).sqrt()
        target = {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[d.objective]
        return (target + self.error).float()


def test_buffers_are_float32_and_follow_the_module() -> None:
    d = _diffusion()
    assert d.num_timesteps == 1000
    for name in BUFFERS:
        buffer = getattr(d, name)
        assert buffer.dtype == torch.float32 and buffer.shape == (1000,), name
    assert set(BUFFERS) <= set(dict(d.named_buffers()))
    assert d.to(torch.device("meta")).snr.device.type == "meta"


def test_buffers_match_float64_definitions() -> None:
    betas = linear_beta_schedule(1000)
    ab = alphas_cumprod(betas)
    d = GaussianDiffusion(betas)
    torch.testing.assert_close(d.alphas_cumprod, ab.float())
    torch.testing.assert_close(d.alphas_cumprod_prev[1:], ab[:-1].float())
    assert d.alphas_cumprod_prev[0] == 1.0
    torch.testing.assert_close(d.snr, (ab / (1 - ab)).float())
    # float64 first: 1 - alpha_bar_0 = 1e-4 keeps all its digits
    assert d.sqrt_one_minus_alphas_cumprod[0].item() == pytest.approx(1e-2, rel=1e-6)
    assert d.posterior_variance[0] == 0 and torch.isfinite(d.posterior_log_variance_clipped).all()
    assert d.posterior_log_variance_clipped[0] == d.posterior_log_variance_clipped[1]


def test_q_posterior_is_the_bayes_posterior() -> None:
    """q(x_{t-1} | x_t, x0) ∝ N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) N(x_{t-1}; sqrt(ab_{t-1}) x0, 1 - ab_{t-1})."""
    betas = cosine_beta_schedule(1000)
    d = GaussianDiffusion(betas)
    t = torch.tensor([1, 10, 500, 998])
    x0, x_t = torch.randn(4, 1, 1, 1), torch.randn(4, 1, 1, 1)
    beta, ab_prev = betas[t].view(-1, 1, 1, 1), alphas_cumprod(betas)[t - 1].view(-1, 1, 1, 1)
    precision = (1 - beta) / beta + 1 / (1 - ab_prev)
    mean = ((1 - beta).sqrt() * x_t.double() / beta + ab_prev.sqrt() * x0.double() / (1 - ab_prev)) / precision
    got_mean, got_var, got_log_var = d.q_posterior(x0, x_t, t)
    torch.testing.assert_close(got_mean, mean.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_var, (1 / precision).float(), rtol=1e-5, atol=0)
    torch.testing.assert_close(got_log_var, (1 / precision).log().float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [0, 100, 999])
def test_q_sample_has_the_forward_marginal(t: int) -> None:
    d = _diffusion()
    n = 200_000
    x0 = torch.full((n, 1, 1, 1), 0.7)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(t))
    x_t = d.q_sample(x0, torch.full((n,), t), noise)
    ab = d.alphas_cumprod[t].item()
    assert x_t.mean().item() == pytest.approx(ab**0.5 * 0.7, abs=0.01)
    assert x_t.var().item() == pytest.approx(1 - ab, rel=0.02, abs=1e-6)


def test_objectives_convert_into_each_other() -> None:
    d = _diffusion()
    t = torch.arange(0, 1000, 37)
    x0, eps = torch.rand(len(t), 3, 4, 4) * 2 - 1, torch.randn(len(t), 3, 4, 4)
    x_t = d.q_sample(x0, t, eps)
    v = d.predict_v(x0, eps, t)
    close = {"rtol": 0, "atol": 1e-4}
    torch.testing.assert_close(d.predict_x0_from_eps(x_t, t, eps), x0, **close)
    torch.testing.assert_close(d.predict_x0_from_v(x_t, t, v), x0, **close)
    torch.testing.assert_close(d.predict_eps_from_v(x_t, t, v), eps, **close)
    far = t > 10  # at t ~ 0, eps from x0 divides by sqrt(1/alpha_bar - 1) ~ 0.01: float32 noise grows 100x
    torch.testing.assert_close(d.predict_eps_from_x0(x_t[far], t[far], x0[far]), eps[far], **close)
    torch.testing.assert_close(d.predict_eps_from_x0(x_t, t, x0), eps, rtol=0, atol=2e-3)
    # (x_t, v) is (x0, eps) rotated by the angle atan(sigma / alpha) (Salimans & Ho 2022, Fig. 1)
    torch.testing.assert_close(v**2 + x_t**2, eps**2 + x0**2, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_model_predictions_decode_every_objective(objective: str) -> None:
    d = _diffusion(objective=objective)
    t = torch.tensor([5, 200, 600, 999])
    x0 = torch.rand(4, 1, 8, 8) * 1.6 - 0.8
    eps = torch.randn(4, 1, 8, 8)
    x_t = d.q_sample(x0, t, eps)
    got_eps, got_x0 = d.model_predictions(Oracle(d, x0), x_t, t, clip_x0=False)
    assert got_eps.dtype == got_x0.dtype == torch.float32
    torch.testing.assert_close(got_x0, x0, rtol=0, atol=1e-4)
    torch.testing.assert_close(got_eps, eps, rtol=0, atol=1e-3)


def test_clipped_x0_is_clamped_and_eps_rederived() -> None:
    d = _diffusion(objective="x0")
    t = torch.tensor([300, 700])
    x_t = torch.randn(2, 1, 4, 4)
    wild = Oracle(d, torch.zeros(2, 1, 4, 4))
    wild.forward = lambda x, t: torch.full_like(x, 3.0)  # x0 far outside the data range
    eps, x0 = d.model_predictions(wild, x_t, t, clip_x0=True)
    assert (x0 == 1.0).all()
    torch.testing.assert_close(d.q_sample(x0, t, eps), x_t, rtol=0, atol=1e-5)  # (eps, x0) still explain x_t


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
@pytest.mark.parametrize("loss", ["smooth_l1", "mse", "l1"])
def test_training_loss_is_zero_for_the_oracle_and_not_for_a_wrong_model(objective: str, loss: str) -> None:
    d = _diffusion(objective=objective, loss=loss)
    x0 = torch.rand(16, 1, 4, 4) * 2 - 1
    oracle = d.training_loss(Oracle(d, x0), x0, generator=torch.Generator().manual_seed(0))
    wrong = d.training_loss(Oracle(d, x0, error=0.3), x0, generator=torch.Generator().manual_seed(0))
    assert oracle.shape == () and oracle.item() < 1e-6
    assert wrong.item() > 0.04


@pytest.mark.parametrize("loss, expected", [("mse", 4.0), ("l1", 2.0), ("smooth_l1", 1.5)])
def test_each_loss_name_dispatches_to_its_function(loss: str, expected: float) -> None:
    """A constant error of 2 on every element: MSE 4, L1 2, SmoothL1 (beta 1) 2 - 0.5."""
    d = _diffusion(loss=loss)
    x0 = torch.rand(8, 1, 4, 4) * 2 - 1
    assert d.training_loss(Oracle(d, x0, error=2.0), x0).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_min_snr_gamma_weights_each_sample(objective: str) -> None:
    """Hang et al. 2023: min(snr, g)/snr for eps, min(snr, g)/(snr + 1) for v, min(snr, g) for x0."""
    gamma = 5.0
    d = _diffusion(objective=objective, loss="l1", min_snr_gamma=gamma)
    x0 = torch.rand(64, 1, 2, 2) * 2 - 1
    model = Oracle(d, x0, error=1.0)  # per-sample loss 1, so the loss is the mean weight
    loss = d.training_loss(model, x0, generator=torch.Generator().manual_seed(3))
    snr = alphas_cumprod(linear_beta_schedule(1000))[model.seen_t]
    snr = snr / (1 - snr)
    weight = {"eps": snr.clamp(max=gamma) / snr, "v": snr.clamp(max=gamma) / (snr + 1), "x0": snr.clamp(max=gamma)}
    assert loss.item() == pytest.approx(weight[objective].mean().item(), rel=1e-4)
    assert d.loss_weight(model.seen_t).min() < 1  # the weighting did something on this batch


def test_training_loss_is_float32_under_bf16_autocast_and_backpropagates() -> None:
    d = _diffusion(objective="v")
    net = nn.Conv2d(1, 1, 3, padding=1)
    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # a time-blind denoiser is enough here
        return net(x)

    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x0).dtype == torch.bfloat16
        loss = d.training_loss(model, x0, generator=torch.Generator().manual_seed(0))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert net.weight.grad is not None and torch.isfinite(net.weight.grad).all()


def test_training_loss_is_deterministic_given_a_generator() -> None:
    d = _diffusion()
    x0 = torch.rand(8, 1, 4, 4)
    model = Oracle(d, torch.zeros_like(x0), error=0.0)  # wrong x0: loss depends on the draws

    def loss(seed: int) -> float:
        return d.training_loss(model, x0, generator=torch.Generator().manual_seed(seed)).item()

    assert loss(1) == loss(1)
    assert loss(1) != loss(2)


def test_from_spec_builds_the_registered_schedule() -> None:
    d = GaussianDiffusion.from_spec(DiffusionSpec(schedule="cosine", timesteps=100, objective="v", loss="mse", min_snr_gamma=5.0), get_registry())
    assert d.num_timesteps == 100 and d.objective == "v" and d.loss_type == "mse" and d.min_snr_gamma == 5.0
    torch.testing.assert_close(d.betas, cosine_beta_schedule(100).float())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"objective": "epsilon"}, "did you mean 'eps'"),
        ({"loss": "huber"}, "smooth_l1"),
        ({"min_snr_gamma": 0.0}, "positive"),
    ],
)
def test_bad_settings_are_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _diffusion(**kwargs)


def test_betas_outside_the_unit_interval_are_refused() -> None:
    with pytest.raises(UserError, match=r"\(0, 1\)"):
        GaussianDiffusion(torch.tensor([0.1, 1.0], dtype=torch.float64))
