"""The plugin contract: the one file a plugin author reads.

A plugin is any installed distribution that declares an entry point in the group ``zoo``::

    [project.entry-points.zoo]
    my_blocks = "my_package.blocks"

and whose module defines::

    import zoo

    @zoo.hookimpl
    def zoo_register(registry):
        registry.add("activation", "mish", torch.nn.Mish, help="Mish (Misra 2019)")

zoo's own components register through exactly this path (see zoo's ``pyproject.toml``).

Component kinds and the call shape every factory of that kind honours, so any two of a kind are
interchangeable:

=============== ====================================================== ==========================
kind            factory                                                the object it builds
=============== ====================================================== ==========================
block           ``(dim_in, dim_out, *, time_emb_dim, act, groups)``    ``forward(x, t_emb)``; ``t_emb``
                                                                       is None without time embedding;
                                                                       ``act`` a zero-arg callable
                                                                       returning an activation, or None
attention       ``(dim, *, heads, dim_head)``                          ``forward(x)`` keeping the shape
norm            ``(dim, fn)``                                          wraps an attention module
activation      ``()``                                                 an ``nn.Module``
time_embedding  ``(dim)``                                              ``forward(t) -> (B, D)``; exposes
                                                                       ``out_dim`` (None: no embedding)
model           ``(spec: zoo.spec.ModelSpec)``                         an ``nn.Module``
schedule        ``(timesteps)``                                        betas, float64 tensor (T,)
sampler         ``(model, diffusion, shape, *, steps, generator,       images in [-1, 1]
                progress)``
dataset         ``(root, *, download)``                                a Source over all images: ``len``,
                                                                       ``load(i) -> (PIL image, label)``
feature         ``()``                                                 ``nn.Module``: uint8 (N,C,H,W) ->
                                                                       features (N,D) (+ logits)
metric          ``(**options)``                                        see ``zoo.metrics.scores``
=============== ====================================================== ==========================

A model factory may carry two optional attributes: ``validate(spec)`` raising
:class:`zoo.errors.UserError` for an impossible spec before any tensor is made, and
``canonical(spec) -> spec`` mapping equivalent specs to one (so a grid trains them once).
A time_embedding factory may return None: the network then has no time embedding.

A registered name keeps its meaning forever: components may be added, never changed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:
    from zoo.registry import Registry

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register(registry: Registry) -> None:
    """Add components to ``registry`` with ``registry.add(kind, name, factory, help="one line")``."""


# -- how a metric describes itself -------------------------------------------------------------------
@dataclass(frozen=True)
class MetricColumn:
    """One value a metric reports (``compute`` returns it under ``key``) and how tables show and rank it.

    A metric object lists its values in a ``columns`` attribute (a tuple of these): FID has one, KID
    one with its spread over subsets, precision/recall are two metrics of one column each. Without
    ``columns`` a metric is shown as one unranked column named after it. zoo's table, ``--sort``, the
    report and ``--json`` read only these descriptions, so a plugin metric appears like a built-in one.
    """

    key: str  # the name of the value in compute()'s dict
    title: str = ""  # table header (default: the key); the direction mark is added by zoo
    better: Literal["low", "high", "real", ""] = ""  # "real": closest to the real data's value; "": not ranked
    digits: int = 3  # significant digits shown; 0: a whole number
    spread: str | None = None  # key of the value's own spread within one run (KID over subsets), if any
    real: str | None = None  # better="real": key of the same quantity measured on the real images

    @property
    def header(self) -> str:
        mark = {"low": " ↓", "high": " ↑", "real": " (≈ real)"}.get(self.better, "")
        return (self.title or self.key) + mark
