"""Samplers, proven on data whose exact denoiser is known: x0 ~ N(mu, s²) per dimension.

For that data x_t ~ N(a mu, a² s² + σ²) with a = sqrt(alpha_bar_t), σ = sqrt(1 - alpha_bar_t), and
E[eps | x_t] = σ (x_t - a mu) / (a² s² + σ²), E[x0 | x_t] = mu + a s² (x_t - a mu) / (a² s² + σ²).
A sampler driven by that oracle must return N(mu, s²) up to its own discretisation error; a wrong
oracle (eps scaled by 0.8) must not.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from zoo.config.resolve import load_spec, resolve
from zoo.config.spec import from_dict
from zoo.diffusion.gaussian import GaussianDiffusion
from zoo.diffusion.samplers import (
    SPACINGS,
    DDIMUpdate,
    DPMSolverPP2MUpdate,
    ReverseStep,
    ddim,
    ddpm,
    dpmpp_2m,
    sampling_timesteps,
)
from zoo.diffusion.schedules import alphas_cumprod, cosine_beta_schedule, linear_beta_schedule
from zoo.errors import UserError
from zoo.plugins import load_registry

MU, S = 0.3, 0.2  # well inside [-1, 1]: clipping x0 does not distort the Gaussian
N = 20_000
SHAPE = (N, 1, 1, 1)


class GaussianOracle(nn.Module):
    """The exact posterior-mean denoiser of N(mu, s²) data, in the objective's parametrisation
    (``eps_scale`` != 1: a wrong denoiser, the same in every parametrisation)."""

    def __init__(self, betas: torch.Tensor, objective: str = "eps", eps_scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("alphas_cumprod", alphas_cumprod(betas))  # float64; also fixes the device
        self.objective, self.eps_scale = objective, eps_scale
        self.calls: list[tuple[torch.dtype, tuple[int, ...], bool]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((t.dtype, tuple(t.shape), torch.is_inference_mode_enabled()))
        ab = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        a, sigma, x = ab.sqrt(), (1 - ab).sqrt(), x.double()
        eps = sigma * (x - a * MU) / (ab * S**2 + 1 - ab) * self.eps_scale
        x0 = (x - sigma * eps) / a  # = mu + a s² (x - a mu) / (a² s² + σ²) when eps_scale = 1
        return {"eps": eps, "x0": x0, "v": a * eps - sigma * x0}[self.objective].float()


def _setup(objective: str = "eps", eps_scale: float = 1.0, schedule=linear_beta_schedule, T: int = 1000):
    betas = schedule(T)
    return GaussianOracle(betas, objective, eps_scale), GaussianDiffusion(betas, objective=objective)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _matches(x: torch.Tensor, mean: float, std: float, tol: float) -> bool:
    return abs(x.mean().item() - mean) < tol and abs(x.std().item() - std) < tol


# -- the closed-form sampler outputs on Gaussian data (independent of the sampler code) -----------
def _ddpm_exact(betas: torch.Tensor) -> tuple[float, float]:
    """Mean and std of ddpm's output: with y = x - a mu the chain is y' = f y + sqrt(beta tilde) z,
    f = c1 k + c2, k = a s² / v (Ho et al. eq. 7 coefficients); the last step returns mu + k y."""
    ab = alphas_cumprod(betas).tolist()
    m, var = -math.sqrt(ab[-1]) * MU, 1.0  # y at t = T-1 when x starts from N(0, 1)
    for t in range(len(ab) - 1, 0, -1):
        beta, prev = betas[t].item(), ab[t - 1]
        k = math.sqrt(ab[t]) * S**2 / (ab[t] * S**2 + 1 - ab[t])
        f = beta * math.sqrt(prev) / (1 - ab[t]) * k + (1 - prev) * math.sqrt(1 - beta) / (1 - ab[t])
        m, var = f * m, f * f * var + beta * (1 - prev) / (1 - ab[t])
    k0 = math.sqrt(ab[0]) * S**2 / (ab[0] * S**2 + 1 - ab[0])
    return MU + k0 * m, k0 * math.sqrt(var)


def _ddim_exact(betas: torch.Tensor, timesteps: list[int]) -> tuple[float, float]:
    """Mean and std of deterministic DDIM's output: each step multiplies y = x - a mu by
    (a a' s² + σ σ') / (a² s² + σ²), the last one (a' = 1, σ' = 0) lands on x0."""
    ab = alphas_cumprod(betas).tolist()
    gain = 1.0
    for t, nxt in zip(timesteps, [*timesteps[1:], None], strict=True):
        a, sigma = math.sqrt(ab[t]), math.sqrt(1 - ab[t])
        a2, sigma2 = (math.sqrt(ab[nxt]), math.sqrt(1 - ab[nxt])) if nxt is not None else (1.0, 0.0)
        gain *= (a * a2 * S**2 + sigma * sigma2) / (ab[t] * S**2 + 1 - ab[t])
    return MU - gain * math.sqrt(ab[timesteps[0]]) * MU, gain


# -- timesteps ------------------------------------------------------------------------------------
def test_timestep_spacings_are_documented_lists() -> None:
    d = GaussianDiffusion(linear_beta_schedule(1000))
    assert sampling_timesteps(d, 10) == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert sampling_timesteps(d, 10, "leading") == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert sampling_timesteps(d, 10, "trailing") == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert sampling_timesteps(d, 1) == [999]
    assert sampling_timesteps(d, 1000) == list(range(999, -1, -1))


@pytest.mark.parametrize("schedule", [linear_beta_schedule, cosine_beta_schedule])
@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_spacing_gives_distinct_decreasing_steps(schedule, spacing: str) -> None:
    d = GaussianDiffusion(schedule(1000))
    for steps in (2, 3, 7, 20, 50, 333, 999, 1000):
        ts = sampling_timesteps(d, steps, spacing)
        assert len(ts) == steps and all(a > b for a, b in itertools.pairwise(ts)) and 0 <= ts[-1] and ts[0] <= 999
        if spacing in ("linspace", "logsnr"):
            assert ts[0] == 999 and ts[-1] == 0


def test_logsnr_spacing_is_even_in_log_snr() -> None:
    d = GaussianDiffusion(linear_beta_schedule(1000))
    log_snr = d.snr.double().log()[sampling_timesteps(d, 20, "logsnr")]
    gaps = log_snr.diff()
    assert (gaps > 0).all() and gaps.max() / gaps.min() < 1.6  # integer rounding only


@pytest.mark.parametrize("steps", [0, 1001, 2.5])
def test_impossible_step_counts_are_user_errors(steps) -> None:
    oracle, d = _setup()
    with pytest.raises(UserError, match="steps"):
        ddim(oracle, d, (2, 1, 1, 1), steps=steps, generator=_gen())


def test_unknown_options_and_spacings_are_user_errors() -> None:
    oracle, d = _setup()
    with pytest.raises(UserError, match="did you mean 'eta'"):
        ddim(oracle, d, (2, 1, 1, 1), steps=5, generator=_gen(), eta_=0.5)
    with pytest.raises(UserError, match="has no option 'eta'; its options: none"):
        ddpm(oracle, d, (2, 1, 1, 1), generator=_gen(), eta=0.5)
    with pytest.raises(UserError, match="spacing"):
        dpmpp_2m(oracle, d, (2, 1, 1, 1), steps=5, generator=_gen(), spacing="karras")


# -- the Gaussian oracle ------------------------------------------------------------------------
def test_ddpm_matches_its_closed_form_and_the_data() -> None:
    oracle, d = _setup()
    x = ddpm(oracle, d, SHAPE, steps=123, generator=_gen())  # steps is ignored: all T steps run
    assert len(oracle.calls) == 1000 and oracle.calls[0] == (torch.int64, (N,), True)
    mean, std = _ddpm_exact(linear_beta_schedule(1000))
    assert _matches(x, mean, std, tol=0.005)  # the code computes what Ho et al.'s chain gives ...
    assert _matches(x, MU, S, tol=0.01)  # ... and that is the data (fixed variance costs ~0.003 in std)
    wrong = ddpm(GaussianOracle(linear_beta_schedule(1000), eps_scale=0.8), d, (5000, 1, 1, 1), generator=_gen())
    assert not _matches(wrong, MU, S, tol=0.02)


def test_ddim_matches_its_closed_form_at_50_steps() -> None:
    """DDIM is first order: at 50 evenly spaced steps this sharp Gaussian comes out with std 0.177,
    exactly what eq. 12 predicts; the closed form pins the implementation to 0.005."""
    oracle, d = _setup()
    x = ddim(oracle, d, SHAPE, steps=50, generator=_gen())
    assert len(oracle.calls) == 50
    mean, std = _ddim_exact(linear_beta_schedule(1000), sampling_timesteps(d, 50))
    assert _matches(x, mean, std, tol=0.005)
    wrong = ddim(GaussianOracle(linear_beta_schedule(1000), eps_scale=0.8), d, SHAPE, steps=50, generator=_gen())
    assert not _matches(wrong, mean, std, tol=0.05)


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_ddim_converges_to_the_data_for_every_objective(objective: str) -> None:
    oracle, d = _setup(objective)
    x = ddim(oracle, d, SHAPE, steps=250, generator=_gen())
    assert _matches(x, MU, S, tol=0.01)
    wrong, d_wrong = _setup(objective, eps_scale=0.8)
    assert not _matches(ddim(wrong, d_wrong, SHAPE, steps=250, generator=_gen()), MU, S, tol=0.02)


@pytest.mark.parametrize("schedule", [linear_beta_schedule, cosine_beta_schedule])
def test_dpmpp_2m_reaches_the_data_in_20_steps(schedule) -> None:
    """With an exact denoiser (right at every noise level) and log-SNR steps, 2M lands on the data."""
    oracle, d = _setup(schedule=schedule)
    x = dpmpp_2m(oracle, d, SHAPE, steps=20, generator=_gen(), spacing="logsnr")
    assert len(oracle.calls) == 20
    assert _matches(x, MU, S, tol=0.01)
    wrong = dpmpp_2m(GaussianOracle(schedule(1000), eps_scale=0.8), d, SHAPE, steps=20, generator=_gen(), spacing="logsnr")
    assert not _matches(wrong, MU, S, tol=0.02)


def test_dpmpp_2m_never_calls_the_network_at_the_lowest_noise_by_default() -> None:
    """The default "trailing" spacing: a trained network's worst timesteps (the least noisy, which
    min-SNR weighting hardly trains) are skipped; the last call is at t = T/steps - 1."""
    oracle, d = _setup()
    seen = []
    forward = oracle.forward
    oracle.forward = lambda x, t: seen.append(int(t[0])) or forward(x, t)
    dpmpp_2m(oracle, d, (2, 1, 1, 1), steps=20, generator=_gen())
    assert seen == sampling_timesteps(d, 20, "trailing") and seen[-1] == 49


@pytest.mark.parametrize("sampler", [ddim, dpmpp_2m])
def test_x0_and_v_networks_sample_what_an_eps_network_samples(sampler) -> None:
    """One denoiser in three parametrisations: the same start noise gives the same images."""
    outputs = []
    for objective in ("eps", "x0", "v"):
        oracle, d = _setup(objective)
        outputs.append(sampler(oracle, d, (2000, 1, 1, 1), steps=20, generator=_gen()))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=2e-3)
    torch.testing.assert_close(outputs[2], outputs[0], rtol=0, atol=2e-3)


def test_dpmpp_2m_sde_samples_the_data_and_eta_0_is_the_ode() -> None:
    """With eta > 0 the solver adds the SDE's noise: still N(mu, s²) from the exact denoiser, not from a wrong one;
    eta = 0 is the deterministic solver, sample for sample."""
    oracle, d = _setup(schedule=cosine_beta_schedule)
    for eta in (0.5, 1.0):
        x = dpmpp_2m(oracle, d, SHAPE, steps=50, generator=_gen(), eta=eta)
        assert _matches(x, MU, S, tol=0.01), eta
        wrong = dpmpp_2m(GaussianOracle(cosine_beta_schedule(1000), eps_scale=0.8), d, SHAPE, steps=50, generator=_gen(), eta=eta)
        assert not _matches(wrong, MU, S, tol=0.02), eta
    ode = dpmpp_2m(oracle, d, (500, 1, 1, 1), steps=20, generator=_gen(3))
    torch.testing.assert_close(dpmpp_2m(oracle, d, (500, 1, 1, 1), steps=20, generator=_gen(3), eta=0.0), ode, rtol=0, atol=0)
    assert (dpmpp_2m(oracle, d, (500, 1, 1, 1), steps=20, generator=_gen(3), eta=1.0) - ode).abs().max() > 0.1


def test_dpmpp_2m_sde_first_step_is_the_papers_first_order_sde_solver() -> None:
    """The first step (no history) is Lu et al.'s SDE-DPM-Solver++1, the exact mean of the SDE over the step
    for a constant x0 (the Noise draw replaced by zeros)."""
    update = DPMSolverPP2MUpdate(eta=1.0)
    (a, s), (a2, s2) = _alpha_sigma(-1.0), _alpha_sigma(0.5)
    x, x0 = torch.ones(1, dtype=torch.float64), torch.full((1,), 0.7, dtype=torch.float64)
    out = update(x, (x - a * x0) / s, x0, ReverseStep(2, 1, a, s, a2, s2), lambda shape: torch.zeros(shape, dtype=torch.float64))
    h = 1.5  # lambda_next - lambda; the mean is (s2/s) e^{-h} x + a2 (1 - e^{-2h}) x0
    assert abs(out.item() - (math.exp(-h) * s2 / s + a2 * (1 - math.exp(-2 * h)) * 0.7)) < 1e-12


def test_ddim_with_eta_1_on_all_steps_is_ddpm() -> None:
    """Song et al. 2021: eta = 1 gives the DDPM posterior variance; same generator, same images."""
    oracle, d = _setup(T=200)
    a = ddpm(oracle, d, (500, 1, 1, 1), generator=_gen(5))
    b = ddim(oracle, d, (500, 1, 1, 1), steps=200, eta=1.0, generator=_gen(5))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    c = ddim(oracle, d, (500, 1, 1, 1), steps=200, eta=0.0, generator=_gen(5))
    assert (a - c).abs().max() > 0.1


# -- the update rules as ODE solvers (Lu et al. 2022): x_next = (σ'/σ) x + σ' ∫ e^λ x0(λ) dλ ------------
def _alpha_sigma(lam: float) -> tuple[float, float]:
    """A variance-preserving point with log(alpha / sigma) = lam."""
    alpha = math.sqrt(1 / (1 + math.exp(-2 * lam)))
    return alpha, math.sqrt(1 - alpha * alpha)


def _solve(update, lambdas: list[float], x0_of, x0_integral) -> float:
    """|error| of ``update`` following x0(λ) (the same for every x) from x = 1 at lambdas[1] to lambdas[-1].

    The first interval only primes the multistep history (its result is thrown away).
    """
    x = torch.ones(1, dtype=torch.float64)
    for i, (lam, lam_next) in enumerate(itertools.pairwise(lambdas)):
        (a, s), (a2, s2) = _alpha_sigma(lam), _alpha_sigma(lam_next)
        x0 = torch.full_like(x, x0_of(lam))
        out = update(x, (x - a * x0) / s, x0, ReverseStep(i + 1, i, a, s, a2, s2), None)
        x = out if i > 0 else torch.ones_like(x)
    s0, s1 = _alpha_sigma(lambdas[1])[1], _alpha_sigma(lambdas[-1])[1]
    exact = s1 / s0 + s1 * (x0_integral(lambdas[-1]) - x0_integral(lambdas[1]))
    return abs(x.item() - exact)


def test_ddim_and_dpmpp_2m_steps_are_exact_for_a_constant_x0() -> None:
    """Both are exponential integrators: with x0 constant the linear part is solved exactly."""
    for update in (DDIMUpdate(0.0), DPMSolverPP2MUpdate()):
        lambdas = [-4.0, -1.0, 0.5, 3.0]
        assert _solve(update, lambdas, lambda lam: 0.7, lambda lam: 0.7 * math.exp(lam)) < 1e-12


@pytest.mark.parametrize("r", [0.25, 2.0])
def test_dpmpp_2m_step_has_third_order_local_error(r: float) -> None:
    """One 2M step after a step r times as long: local error O(h³) (halving h divides it by 8); a step
    built with a wrong r, or DDIM's first-order step, only reaches O(h²) (divides it by 4)."""
    x0_of = math.cos

    def integral(lam: float) -> float:  # ∫ e^λ cos λ dλ
        return math.exp(lam) * (math.cos(lam) + math.sin(lam)) / 2

    def error(update_cls, h: float) -> float:
        return _solve(update_cls(), [0.3 - r * h, 0.3, 0.3 + h], x0_of, integral)

    assert error(DPMSolverPP2MUpdate, 0.1) / error(DPMSolverPP2MUpdate, 0.05) > 7.5
    ddim_ratio = error(lambda: DDIMUpdate(0.0), 0.1) / error(lambda: DDIMUpdate(0.0), 0.05)
    assert 3.5 < ddim_ratio < 5


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notice inside diffusers
def test_dpmpp_2m_follows_the_diffusers_trajectory() -> None:
    """Cross-check against a reference implementation (installed with zoo's `bench` extra)."""
    diffusers = pytest.importorskip("diffusers")
    oracle, d = _setup()
    timesteps = sampling_timesteps(d, 20, "logsnr")
    ours = dpmpp_2m(oracle, d, (1000, 1, 1, 1), steps=20, generator=_gen(), spacing="logsnr")
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
        algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero", lower_order_final=True,
    )
    scheduler.set_timesteps(timesteps=timesteps)
    x = torch.randn((1000, 1, 1, 1), generator=_gen())
    for t in scheduler.timesteps:
        x = scheduler.step(oracle(x, torch.full((1000,), int(t))), t, x).prev_sample
    torch.testing.assert_close(ours, x.clamp(-1, 1), rtol=0, atol=1e-4)


# -- determinism and the calling contract ---------------------------------------------------------
@pytest.mark.parametrize("sampler, options", [(ddpm, {}), (ddim, {"eta": 0.5}), (dpmpp_2m, {})])
def test_same_seed_same_images_other_seed_other_images(sampler, options: dict) -> None:
    oracle, d = _setup(T=50)

    def run(seed: int) -> torch.Tensor:
        return sampler(oracle, d, (4, 1, 3, 3), steps=10, generator=_gen(seed), **options)

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))


def test_start_noise_comes_from_the_generator_on_the_cpu() -> None:
    oracle, d = _setup(T=50)
    start = torch.randn((3, 1, 2, 2), generator=_gen(7))
    seen = []
    oracle.forward = lambda x, t: seen.append(x.clone()) or torch.zeros_like(x)
    ddim(oracle, d, (3, 1, 2, 2), steps=5, generator=_gen(7))
    assert torch.equal(seen[0], start)


def test_samples_are_clamped_and_a_parameterless_model_works() -> None:
    class Wild(nn.Module):  # no parameters, no buffers: the device comes from the diffusion
        def forward(self, x, t):
            return torch.full_like(x, -50.0)

    d = GaussianDiffusion(linear_beta_schedule(100), objective="x0")
    for sampler in (ddpm, ddim, dpmpp_2m):
        x = sampler(Wild(), d, (2, 3, 4, 4), steps=5, generator=_gen())
        assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1


def test_progress_bar_runs(capsys) -> None:
    oracle, d = _setup(T=50)
    x = dpmpp_2m(oracle, d, (2, 1, 1, 1), steps=5, generator=_gen(), progress=True)
    assert torch.isfinite(x).all()


def test_samplers_are_registered(registry) -> None:
    assert {"ddpm", "ddim", "dpmpp_2m"} <= set(registry.names("sampler"))
    assert registry.get("sampler", "ddim").factory is ddim


# -- options from the spec (eval.sampler_options) -------------------------------------------------
def test_sampler_options_left_empty_keep_the_hash_of_older_cells() -> None:
    # the hashes zoo gave these specs before eval.sampler_options existed (commit 4faf85a)
    spec = resolve(from_dict({"data": {"size": 8}}))
    assert spec.hash() == "06c8f1273bfe9697"
    assert load_spec(None, ["data.size=8"], preset="study").hash() == "4c2a8eb7a91c81bb"
    assert resolve(from_dict({"data": {"size": 8}, "eval": {"sampler_options": {"spacing": "linspace"}}})).hash() != spec.hash()


@pytest.mark.parametrize(("settings", "needle"), [
    ({"sampler_options": {"nope": 1}}, "has no option 'nope'"),
    ({"sampler_options": {"spacing": "sideways"}}, "unknown timestep spacing 'sideways'"),
    ({"sampler_options": {"s_churn": 1.0}}, "has no option 's_churn'"),
    ({"sampler_options": {"eta": -1.0}}, "eta must be >= 0"),
    ({"sampler_options": {"eps_scale": 0.98}}, "not a sampler option but a setting: eval.eps_scale"),
])
def test_wrong_sampler_options_fail_when_the_spec_loads(settings: dict, needle: str) -> None:
    with pytest.raises(UserError, match="eval.sampler_options") as err:
        resolve(from_dict({"data": {"size": 8}, "eval": settings}))
    assert needle in str(err.value)


def test_right_sampler_options_load() -> None:
    spec = load_spec(None, ["data.size=8", "eval.sampler=ddim", 'eval.sampler_options={eta=1.0, spacing="leading"}'])
    assert spec.eval.sampler_options == {"eta": 1.0, "spacing": "leading"}


def test_a_plugin_samplers_own_option_check_runs_when_the_spec_loads() -> None:
    seen = []

    def picky(model, diffusion, shape, *, steps, generator=None, progress=False, guidance: float = 1.0):  # noqa: ANN001, ANN202
        seen.append((tuple(shape), steps, guidance, next(model.parameters()).device.type))  # as docs/plugins.md's example
        if guidance <= 0:
            raise ValueError("guidance must be positive")
        return torch.zeros(shape)

    registry, _ = load_registry()
    registry.add("sampler", "picky", picky)
    spec = from_dict({"data": {"size": 8}, "eval": {"sampler": "picky", "steps": 7, "sampler_options": {"guidance": 2.0}}})
    resolve(spec, registry)
    assert seen == [((1, 1, 8, 8), 7, 2.0, "cpu")]
    spec.eval.sampler_options["guidance"] = -1.0
    with pytest.raises(UserError, match=r"eval.sampler_options \{'guidance': -1.0\} do not suit sampler 'picky': "
                                        "guidance must be positive"):
        resolve(spec, registry)


def test_a_sampler_that_cannot_run_on_the_stand_in_model_is_not_blamed_on_its_options() -> None:
    def needs_classes(model, diffusion, shape, *, steps, generator=None, progress=False, guidance: float = 1.0):  # noqa: ANN001, ANN202
        return model.num_classes  # not part of the model contract: fails on zoo's stand-in, options or not

    registry, _ = load_registry()
    registry.add("sampler", "needs_classes", needs_classes)
    resolve(from_dict({"data": {"size": 8}, "eval": {"sampler": "needs_classes", "sampler_options": {"guidance": 3.0}}}),
             registry)
