"""The study's baseline: a convolutional variational autoencoder (Kingma & Welling 2014).

It owns its loss and its sampler, which is how any model that is not a noise predictor plugs into
zoo's one training loop: the trainer calls ``model.training_loss(x0)`` when a model has one, and
sampling calls ``model.sample(n, generator=...)``.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from zoo.config.spec import ModelSpec
from zoo.errors import UserError
from zoo.hookspecs import hookimpl
from zoo.models.geometry import check_geometry


def _conv(dim_in: int, dim_out: int, groups: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(dim_in, dim_out, 3, stride=stride, padding=1), nn.GroupNorm(groups, dim_out), nn.SiLU())


def _up(dim_in: int, dim_out: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(dim_in, dim_out, 4, stride=2, padding=1), nn.GroupNorm(groups, dim_out), nn.SiLU()
    )


def validate(spec: ModelSpec, registry: object = None) -> None:
    """Every impossible spec fails here, before a tensor is made (the VAE uses no registered part)."""
    check_geometry(spec, "vae")
    if spec.latent_dim < 1 or spec.kl_weight < 0:
        raise UserError("model.latent_dim must be at least 1 and model.kl_weight non-negative")


class VAE(nn.Module):
    """Encoder to a spatial Gaussian latent (latent_dim channels at image_size / 2^(len(dim_mults)-1)),
    decoder back to the image; trained on reconstruction + kl_weight x KL, sampled from the N(0, I) prior."""

    def __init__(self, spec: ModelSpec) -> None:
        validate(spec)
        super().__init__()
        self.spec = spec
        widths = [spec.dim * m for m in spec.dim_mults]
        g = spec.groups
        enc: list[nn.Module] = [_conv(spec.channels, widths[0], g)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            enc += [_conv(w_in, w_out, g, stride=2), _conv(w_out, w_out, g)]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(widths[-1], 2 * spec.latent_dim, 1))
        dec: list[nn.Module] = [_conv(spec.latent_dim, widths[-1], g)]
        for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
            dec += [_up(w_in, w_out, g), _conv(w_out, w_out, g)]
        self.decoder = nn.Sequential(*dec, nn.Conv2d(widths[0], spec.channels, 3, padding=1))
        self.latent_size = spec.image_size // 2 ** (len(widths) - 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """The reconstruction of ``x`` from its posterior mean (``t`` is ignored: no diffusion here)."""
        return self.decoder(self.encode(x)[0])

    def training_loss(self, x0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Negative ELBO per pixel: mean squared reconstruction error + kl_weight x KL(q(z|x) || N(0, I))
        summed over latent units and divided by the pixel count (so the two terms share a scale)."""
        mu, logvar = self.encode(x0)
        noise = torch.randn(mu.shape, generator=generator, device="cpu").to(mu)
        z = mu + (0.5 * logvar).exp() * noise
        recon = F.mse_loss(self.decoder(z).float(), x0.float())
        kl = 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).sum(dim=(1, 2, 3)).mean()
        return recon + self.spec.kl_weight * kl / x0[0].numel()

    @torch.inference_mode()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [-1, 1] decoded from prior draws."""
        device = next(self.parameters()).device
        shape = (n, self.spec.latent_dim, self.latent_size, self.latent_size)
        z = torch.randn(shape, generator=generator, device="cpu").to(device)
        return self.decoder(z).clamp(-1, 1)


def build_vae(spec: ModelSpec, registry: object = None) -> VAE:
    """The study's VAE baseline (built from no registered part: ``registry`` is not needed)."""
    return VAE(spec)


#: The model settings the VAE never reads (the U-Net's parts and its patches), reset by :func:`canonical`.
UNET_ONLY = ("patch", "block", "attention", "mid_attention", "norm", "activation", "time_embedding", "heads", "dim_head")


def canonical(spec: ModelSpec, registry: object = None) -> ModelSpec:
    """The VAE's spec with the U-Net's settings (:data:`UNET_ONLY`) at their defaults: inherited from a grid's
    base, an axis or the recipe, they change nothing here. So the spec says what runs (the VAE runs on pixels,
    and the bf16 rule reads the feature maps' side from ``patch``), and a VAE crossed with an attention axis is
    one cell, trained once."""
    plain = ModelSpec()
    return dataclasses.replace(spec, **{name: getattr(plain, name) for name in UNET_ONLY})


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("model", "vae", build_vae, help="convolutional VAE baseline (Kingma & Welling 2014), own loss and sampler",
                 validate=validate, canonical=canonical, self_sampling=True)
