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

A dataset factory may carry ``flip_invariant: bool`` (default True when absent): False declares that
a mirrored image is not an image of the dataset (digits, text), so ``data.flip`` defaults to off for
it; the user's ``data.flip`` still wins. Read by ``zoo.spec.RunSpec.resolved``.

A registered name keeps its meaning forever: components may be added, never changed or removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from zoo.registry import Registry

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register(registry: Registry) -> None:
    """Add components to ``registry`` with ``registry.add(kind, name, factory, help="one line")``."""
