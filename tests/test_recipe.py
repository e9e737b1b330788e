"""The default recipe, presets, flips by dataset declaration, the lr schedule and the EMA rules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.config.resolve import load_spec, resolve
from zoo.config.spec import RunSpec
from zoo.errors import UserError
from zoo.train.ema import EMA, std_to_gamma
from zoo.train.lr import lr_factor, progress


def test_study_preset_restores_the_study_settings():
    spec = load_spec(None, preset="study")
    assert (spec.model.block, spec.model.attention, spec.model.dim) == ("convnext", "linear", 32)
    assert (spec.diffusion.schedule, spec.diffusion.objective, spec.diffusion.loss) == ("linear", "eps", "smooth_l1")
    assert spec.diffusion.min_snr_gamma is None
    assert (spec.train.lr, spec.train.lr_warmup, spec.train.lr_decay, spec.train.ema_std) == (1e-3, 0, "none", None)
    assert (spec.eval.sampler, spec.eval.steps) == ("ddim", 50)
    assert resolve(spec).data.flip is False  # digits declare it; the preset does not overrule the data


def test_preset_sits_under_the_users_settings(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('preset = "study"\n[model]\ndim = 16\n')
    spec = load_spec(config, ["train.lr=5e-4"])
    assert (spec.model.block, spec.model.dim, spec.train.lr) == ("convnext", 16, 5e-4)


def test_unknown_preset_names_the_closest():
    with pytest.raises(UserError, match="did you mean 'study'"):
        load_spec(None, preset="studdy")


def test_recipe_depends_on_the_data_not_its_name(tmp_path):
    digits = load_spec(None, ["data.size=16", "data.channels=1"])
    folder = load_spec(None, ["data.dataset=imagefolder", f"data.root={tmp_path}", "data.size=16", "data.channels=1"],
                       model_only=True)  # fmt: skip
    assert digits.model == folder.model
    assert digits.diffusion == folder.diffusion and digits.train == folder.train
    sixteen, thirty_two = load_spec(None, ["data.size=16"]), load_spec(None, ["data.size=32", "data.channels=3"])
    assert (sixteen.model.patch, sixteen.train.batch_size, sixteen.eval.steps) == (1, 32, 10)
    assert (thirty_two.model.patch, thirty_two.train.batch_size, thirty_two.eval.steps) == (2, 16, 30)
    # autoguidance from 32x32 on, where x_t holds more noise than signal
    assert (thirty_two.train.guide_at, thirty_two.eval.guidance, thirty_two.eval.guidance_interval) == (0.05, 2.0, (1.0, float("inf")))
    assert (sixteen.train.guide_at, sixteen.eval.guidance, sixteen.eval.guidance_interval) == (None, 1.0, None)
    assert (thirty_two.eval.eps_scale, sixteen.eval.eps_scale) == (0.98, 1.0)  # epsilon scaling where it was measured
    assert load_spec(None, ["data.size=32", "eval.eps_scale=1"]).eval.eps_scale == 1.0  # off, one setting away
    assert (thirty_two.train.ema_std, sixteen.train.ema_std) == (0.15, 0.1)  # the longer average where it was measured
    assert (tuple(thirty_two.train.adam_betas), tuple(sixteen.train.adam_betas)) == ((0.9, 0.99), (0.9, 0.999))
    assert (thirty_two.train.guide_ema_std, sixteen.train.guide_ema_std) == (None, None)  # lost its held-out checks
    user = load_spec(None, ["data.size=32", "train.ema_std=0.1", "train.adam_betas=[0.9, 0.999]", "train.guide_ema_std=0.25"]).train
    assert (user.ema_std, tuple(user.adam_betas), user.guide_ema_std) == (0.1, (0.9, 0.999), 0.25)  # the user's settings win
    unguided = load_spec(None, ["data.size=32", "train.guide_at=none", "eval.guidance=1", "train.guide_ema_std=0.25"]).train
    assert unguided.guide_ema_std is None  # no guide, no average for it: the spec says what runs
    sixty_four = load_spec(None, ["data.size=64"]).model
    assert (sixty_four.patch, sixty_four.dim_mults) == (2, (1, 2, 4))  # 32x32 feature maps down to an 8x8 bottleneck


def test_the_recipes_sampler_options_go_to_its_sampler_only():
    """From 32x32 on the default sampler runs as its SDE (dpmpp_2m eta 0.5); another sampler gets none of its options."""
    thirty_two, sixteen = load_spec(None, ["data.size=32", "data.channels=3"]), load_spec(None, ["data.size=16"])
    assert (thirty_two.eval.sampler, thirty_two.eval.sampler_options) == ("dpmpp_2m", {"eta": 0.5})
    assert sixteen.eval.sampler_options == {}
    ode = load_spec(None, ["data.size=32", "eval.sampler_options={eta=0}"]).eval.sampler_options
    assert ode == {"eta": 0}  # the deterministic solver, one setting away
    both = load_spec(None, ["data.size=32", 'eval.sampler_options={spacing="linspace"}']).eval.sampler_options
    assert both == {"eta": 0.5, "spacing": "linspace"}  # the user's options join the recipe's
    for sampler in ("ddpm", "ddim"):  # ddpm has no eta; ddim's eta is another sampler's noise
        assert load_spec(None, ["data.size=32", f"eval.sampler={sampler}"]).eval.sampler_options == {}
    assert load_spec(None, ["data.size=32", "model.name=vae"]).eval.sampler_options == {}  # the VAE samples itself


def test_the_users_settings_sit_over_the_recipe_for_the_size():
    spec = load_spec(None, ["data.size=32", "model.patch=1", "train.batch_size=32", "eval.steps=10"])
    assert (spec.model.patch, spec.train.batch_size, spec.eval.steps, spec.model.dim_mults) == (1, 32, 10, (1, 2, 4))
    assert load_spec(None, ["data.size=32"], preset="study").model.patch == 1  # a preset replaces the recipe
    assert load_spec(None, ["data.size=32", "model.name=vae"]).model.patch == 1  # the VAE runs on pixels: no patch to inherit


def test_flips_follow_the_dataset_declaration(tmp_path):
    assert load_spec(None).data.flip is False  # digits: flip_invariant = False
    folder = load_spec(None, ["data.dataset=imagefolder", f"data.root={tmp_path}"], model_only=True)
    assert folder.data.flip is True  # the documented default
    assert load_spec(None, ["data.flip=true"]).data.flip is True  # the user's word wins


def test_none_switches_an_optional_setting_off():
    assert load_spec(None, ["diffusion.min_snr_gamma=none", "train.ema_std=none"]).diffusion.min_snr_gamma is None


@pytest.mark.parametrize("bad", ["train.lr_decay=cosin", "train.lr_warmup=-1", "train.ema_std=0.5", "train.adam_betas=[0.9]",
                                 "train.adam_betas=[0.9, 1.0]"])
def test_bad_schedule_settings_are_one_line_errors(bad):
    with pytest.raises(UserError, match=bad.split("=")[0]):
        load_spec(None, [bad])


def test_lr_warms_up_then_decays_to_zero():
    steps = 1000
    factors = [lr_factor(s, progress(s, steps, 0, None), warmup=10, decay="cosine") for s in range(steps)]
    assert factors[0] == pytest.approx(0.1)
    assert lr_factor(0, 0.06, warmup=1000, decay="none") == 1.0  # the warm-up ends by 5 % of the budget
    assert max(factors) == pytest.approx(factors[9]) and factors[9] > 0.95
    assert factors[-1] < 0.001 and all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert lr_factor(5, 0.5, warmup=0, decay="linear") == pytest.approx(0.5)
    assert lr_factor(5, 0.9, warmup=0, decay="none") == 1.0


def test_progress_follows_the_further_budget():
    assert progress(10, 100, 30.0, 60.0) == 0.5
    assert progress(80, 100, 30.0, 60.0) == 0.8
    assert progress(10, None, 120.0, 60.0) == 1.0
    assert progress(10, None, 0.0, None) == 0.0


def test_power_ema_gamma_matches_edm2():
    assert std_to_gamma(0.10) == pytest.approx(6.94, abs=0.01)  # EDM2: sigma_rel 0.10 <-> gamma 6.94
    assert std_to_gamma(0.05) == pytest.approx(16.97, abs=0.01)


def test_power_ema_averages_with_the_power_profile():
    """After t updates of a scalar weight w_1..w_t, the power EMA equals sum(w_i i^gamma) / sum(i^gamma)
    approximately (EDM2 eq. 1), starting from a copy of the first weight."""
    torch.manual_seed(0)
    model = nn.Linear(1, 1, bias=False)
    ema = EMA(model, std=0.1)
    values = torch.randn(200)
    for v in values:
        model.weight.data.fill_(float(v))
        ema.update(model)
    i = torch.arange(1, 201, dtype=torch.float64)
    profile = i**ema.gamma
    expected = float((values.double() * profile).sum() / profile.sum())
    assert float(ema.shadow["weight"]) == pytest.approx(expected, abs=0.02)
    assert EMA(model, std=0.1).decay() == 0.0  # the first update copies


def test_warmup_ema_keeps_its_rule():
    model = nn.Linear(1, 1)
    ema = EMA(model, power=0.75, max_decay=0.999)
    ema.num_updates = 9
    assert ema.decay() == pytest.approx(1 - 10**-0.75)
    ema.num_updates = 10**8
    assert ema.decay() == 0.999


def test_default_spec_is_the_fast_recipe():
    spec = RunSpec()
    assert (spec.model.block, spec.model.attention, spec.diffusion.objective) == ("resnet", "none", "v")
    assert (spec.eval.sampler, spec.eval.steps) == ("dpmpp_2m", 10)


def test_grids_take_a_preset_per_file_and_per_variant(tmp_path):
    from zoo.bench.grid import load_grid

    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\npreset = "study"\n[budget]\nsteps = 2\n[base.data]\nsize = 8\n'
                    '[variants]\nbase = {}\nnew = { preset = "none" }\n')
    with pytest.raises(UserError, match="unknown preset 'none'"):
        load_grid(grid)
    grid.write_text('name = "g"\npreset = "study"\n[budget]\nsteps = 2\n[base.data]\nsize = 8\n'
                    '[variants]\nbase = {}\nsmall = { "model.dim" = 16 }\n')
    cells = {c.name: c for c in load_grid(grid).cells}
    assert cells["base"].spec.model.block == "convnext" and cells["small"].spec.model.dim == 16
    assert cells["small"].spec.eval.sampler == "ddim"


def test_study_preset_cells_keep_the_hash_they_had_before_the_recipe():
    from zoo.config.spec import from_dict, with_recipe

    # zoo at 2932aa5 (before the recipe): its defaults are today's study preset with flips on
    assert resolve(from_dict(with_recipe({"data": {"flip": True}}, "study"))).hash() == "31d5a9371284b410"
    assert resolve(from_dict(with_recipe({"data": {"size": 8, "flip": True}}, "study"))).hash() == "d5ebe0b4ab3abf9e"


def test_a_run_saved_before_the_recipe_settings_existed_keeps_its_old_behaviour(tmp_path):
    import json

    from zoo.config.spec import LATE_DEFAULTS, read_spec_json

    saved = load_spec(None, preset="study").to_dict()
    for section, key in LATE_DEFAULTS:  # a spec.json written by zoo before these settings existed
        del saved[section][key]
    (tmp_path / "spec.json").write_text(json.dumps(saved))
    for spec in (RunSpec.load(tmp_path / "spec.json"), load_spec(None, base=read_spec_json(tmp_path / "spec.json"))):
        # not today's warm-up, cosine decay and power EMA, which would change the run halfway through a resume
        assert (spec.train.lr_warmup, spec.train.lr_decay, spec.train.ema_std) == (0, "none", None)
        assert spec.eval.curve_every is None
