"""A value from a TOML file, a ``--set`` override or a saved ``spec.json``, checked against a spec
field's annotation: one place decides what a setting may be written as (``"none"`` for an optional
setting, ``"1,2,4"`` or ``[1, 2, 4]`` for a tuple, ``"1e-3"`` for a number) and how a wrong value is named."""

from __future__ import annotations

import contextlib
import types
import typing
from typing import Any

from zoo.errors import UserError


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert lists to tuples and ints to floats."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None  # TOML has no null: "none" switches an optional setting off
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except UserError as err:
                errors.append(str(err))
        raise UserError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list like [1, 2, 4], got {value!r}")
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a table, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = tp(value)
        allowed = (int,) if tp is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise UserError(f"{where} must be {'a whole number' if tp is int else 'a number'}, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported spec annotation {tp!r} at {where}")
