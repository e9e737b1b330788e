"""A conformance kit for plugin authors: does a component honour ``zoo/contract/``?

Call the check of its kind on your factory from your plugin's own tests::

    import zoo.testing

    def test_my_block_honours_the_contract():
        zoo.testing.check_block(MyBlock)

Each check builds the component on tiny inputs (8x8 images, a few channels, a few steps; well under
a second for the built-ins except the feature extractors), exercises every clause of its kind's
contract, and raises :class:`ContractError` (an ``AssertionError``) naming the component and the
clause it broke. zoo's own test-suite runs these checks over every registered component,
installed plugins included.
"""

from typing import Any

from zoo.registry import Component
from zoo.testing.checks import ContractError
from zoo.testing.evaluation import check_dataset, check_feature, check_metric
from zoo.testing.extension import check_command, check_training_hook
from zoo.testing.network import (
    check_activation,
    check_attention,
    check_block,
    check_norm,
    check_time_embedding,
)
from zoo.testing.process import check_model, check_sampler, check_schedule


def check_component(component: Component, **kwargs: Any) -> None:
    """The check of ``component``'s kind, with what it declared at registration: how zoo's own test-suite runs
    the kit over every registered component (``kwargs``: the check's own, e.g. a dataset's ``root``)."""
    CHECKS[component.kind](component.factory, name=component.name, declarations=component.declarations, **kwargs)


#: The check of each kind, for running the kit over a registry.
CHECKS = {
    "activation": check_activation,
    "attention": check_attention,
    "block": check_block,
    "command": check_command,
    "dataset": check_dataset,
    "feature": check_feature,
    "metric": check_metric,
    "model": check_model,
    "norm": check_norm,
    "sampler": check_sampler,
    "schedule": check_schedule,
    "time_embedding": check_time_embedding,
    "training_hook": check_training_hook,
}

__all__ = [
    "CHECKS",
    "ContractError",
    "check_activation",
    "check_attention",
    "check_block",
    "check_command",
    "check_component",
    "check_dataset",
    "check_feature",
    "check_metric",
    "check_model",
    "check_norm",
    "check_sampler",
    "check_schedule",
    "check_time_embedding",
    "check_training_hook",
]
