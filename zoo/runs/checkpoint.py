"""Checkpoints that survive a kill at any moment and never unpickle code.

A checkpoint is a folder: ``model.safetensors``, ``ema.safetensors``, ``guide.safetensors`` (the
autoguidance guide's weights, :mod:`zoo.train.guide`, once the run has kept them; before that
``guide_ema.safetensors``, the guide's own average when ``train.guide_ema_std`` sets one), ``optimizer.safetensors``
(tensors only) and ``state.json`` (step, epoch, RNG and data-order state, optimizer hyper-parameters).
It is written to a temporary sibling and swapped in with renames: ``checkpoint`` is either the old
complete folder or the new complete one; if a crash falls between the two renames, the previous
folder survives as ``checkpoint.old`` and :func:`find_checkpoint` picks it up. The temporary is locked
while it is written: a kill leaves it behind unlocked, and the next checkpoint of the run removes it
(:func:`remove_stale_temporaries`). A full disk is a one-line error and leaves no temporary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from zoo.errors import UserError
from zoo.runtime.io import atomic_folder, load_json, remove_stale

NAME = "checkpoint"


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors wants dense row-major tensors; channels_last weights are copied to it.
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def optimizer_to_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and the rest (for JSON)."""
    tensors, scalars = {}, {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    run_dir: str | Path,
    *,
    model: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None,
    optimizer: dict[str, Any],
    guide: dict[str, torch.Tensor] | None = None,
    guide_ema: dict[str, torch.Tensor] | None = None,
    state: dict[str, Any],
) -> Path:
    """Write a complete checkpoint under ``run_dir/checkpoint`` atomically; return its path."""
    run_dir = Path(run_dir)
    final = run_dir / NAME
    remove_stale_temporaries(run_dir)
    with atomic_folder(final, old=run_dir / f"{NAME}.old") as tmp:
        save_file(_contiguous(model), tmp / "model.safetensors")
        if ema is not None:
            save_file(_contiguous(ema), tmp / "ema.safetensors")
        if guide is not None:
            save_file(_contiguous(guide), tmp / "guide.safetensors")
        if guide_ema is not None:
            save_file(_contiguous(guide_ema), tmp / "guide_ema.safetensors")
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        save_file(_contiguous(opt_tensors), tmp / "optimizer.safetensors")
        (tmp / "state.json").write_text(json.dumps({**state, "optimizer": opt_meta}, indent=1))
    return final


def remove_stale_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove what killed writers left in a run folder: half-written checkpoint folders and ``.*.tmp``
    files of atomic writes. A live writer's temporaries are locked and stay."""
    run_dir = Path(run_dir)
    return remove_stale([*run_dir.glob(f".{NAME}.*"), *run_dir.glob(".*.tmp")])


def find_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / NAME, run_dir / f"{NAME}.old"):
        if (candidate / "state.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    return None


def _damaged(path: Path) -> str:
    return (f"the run's checkpoint is damaged; remove '{path.parent}' to fall back on '{path.parent.name}.old' "
            "if the run has one, or train the run again")


def load_state(path: Path) -> dict[str, Any]:
    return load_json(path / "state.json", fix=_damaged(path / "state.json"), what="a checkpoint state")


def load_weights(path: Path, which: str = "model") -> dict[str, torch.Tensor]:
    """``which`` is "model" (raw weights), "ema", "guide", "guide_ema" (the guide's average, until it is kept) or "optimizer"."""
    file = path / f"{which}.safetensors"
    try:
        return load_file(file)
    except SafetensorError as err:
        raise UserError(f"'{file}' is damaged ({err}); {_damaged(file)}") from None
