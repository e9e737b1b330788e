"""The contract every component honours, one module per family of kinds: what a factory of each kind is called with, what it returns
(a :class:`typing.Protocol` per kind), and what a component may declare about itself.

zoo reads nothing else from a component. A factory's declarations (a model's ``validate``, a block's
``default_activation``, ...) are given when it is registered, ``registry.add(kind, name, factory, help=...,
**declarations)``, and listed with their defaults in :data:`DECLARATIONS`; every attribute zoo reads from a
built object is either required by its Protocol or listed with its default in :data:`OPTIONAL` and read
through :func:`optional`. ``zoo.testing`` checks a component against this contract
(``zoo.testing.check_block(MyBlock)`` and so on). The pluggy hook itself is in :mod:`zoo.hookspecs`.

=============== ======================================================== =====================
kind            factory                                                  returns
=============== ======================================================== =====================
block           ``(dim_in, dim_out, *, time_emb_dim, act, groups)``      :class:`Block`
attention       ``(dim, *, heads, dim_head)``                            :class:`Attention` or None
norm            ``(dim, fn)``                                            :class:`Norm`
activation      ``()``                                                   :class:`Activation`
time_embedding  ``(dim)``                                                :class:`TimeEmbedding` or None
model           ``(spec: zoo.config.spec.ModelSpec, registry)``          :class:`DenoisingModel` or
                                                                         :class:`SelfSamplingModel`
schedule        ``(timesteps)``                                          betas (:class:`ScheduleFactory`)
sampler         ``(model, diffusion, shape, *, steps, generator,         images (:class:`SamplerFactory`)
                progress, **options)``
dataset         ``(root, *, download)``                                  :class:`DatasetSource`
feature         ``()``                                                   :class:`FeatureExtractor`
metric          ``(**options)``                                          :class:`Metric`
command         ``(subparsers)``                                         None (:class:`CommandFactory`)
training_hook   ``(spec: zoo.config.spec.RunSpec)``                      :class:`TrainingHook`
=============== ======================================================== =====================

A registered name keeps its meaning forever: components may be added, never changed or removed.
"""

from zoo.contract.declarations import (
    DECLARATIONS,
    OPTIONAL,
    declared,
    optional,
    takes_registry,
    with_registry,
)
from zoo.contract.evaluation import DatasetSource, FeatureExtractor, FeatureSet, Metric, MetricColumn
from zoo.contract.extend import HOOK_POINTS, CommandFactory, TrainingHook
from zoo.contract.models import DenoisingModel, ModelFactory, SelfSamplingModel, owns_sampling
from zoo.contract.network import Activation, Attention, Block, Norm, TimeEmbedding
from zoo.contract.process import Diffusion, SamplerFactory, ScheduleFactory

__all__ = [
    "DECLARATIONS", "HOOK_POINTS", "OPTIONAL", "Activation", "Attention", "Block", "CommandFactory", "DatasetSource",
    "DenoisingModel", "Diffusion", "FeatureExtractor", "FeatureSet", "Metric", "MetricColumn", "ModelFactory", "Norm",
    "SamplerFactory", "ScheduleFactory", "SelfSamplingModel", "TimeEmbedding", "TrainingHook", "declared", "optional",
    "owns_sampling", "takes_registry", "with_registry",
]
