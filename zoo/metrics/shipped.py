"""Feature networks a package trains itself and ships as package data: the yardstick stays one set of bytes.

Why not train on first use: training amplifies the last-bit differences between CPU kernels, so the digits
CNN trained with AVX-512 kernels and the one trained with AVX2 kernels are different networks, and the same
500 samples scored FID 103.4 with one and 112.7 with the other (issue 23). A network trained once by a
maintainer and shipped inside the package that registers it scores the same samples the same on every CPU
(to float rounding: tests/test_yardstick.py).

A shipped network is two files in a folder of its package: ``<stem>.safetensors`` and ``<stem>.json``, the
JSON recording the sha256 of the weights file, the extractor identity every result records, held-out
accuracy, the recipe, and the torch version, CPU and thread count it was trained with. Every load checks
the sha256; a missing or damaged file is a :class:`~zoo.errors.UserError`, never a silent retrain. Only
``zoo features build NAME`` trains, writing both files atomically and never replacing existing ones
unless asked (docs/metrics.md, "Rebuilding a shipped network").

A plugin ships its own the same way: register a :class:`ShippedFeature` as the ``feature`` factory, list
the folder's files as package data, and ``zoo features build NAME`` rebuilds it too.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import subprocess
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import UserError
from zoo.runtime.io import atomic_path, atomic_write_text, load_json

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torch import Tensor, nn

    from zoo.metrics.extractor import Extractor
    from zoo.registry import Registry


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def distribution_of(package: str) -> str:
    """The name ``pip install`` knows the package by (``zoo_emoji`` -> ``zoo-emoji``), else its import name."""
    from importlib.metadata import packages_distributions

    top = package.split(".")[0]
    return (packages_distributions().get(top) or [top])[0]


def zoo_commit() -> str | None:
    """The git commit of the source tree zoo runs from (an editable install), else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                             timeout=10, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(threads: int) -> dict[str, Any]:
    """Where and how a network was trained: what changes its bytes besides the recipe."""
    import torch

    from zoo.runtime.cpu import current

    cpu = current()
    return {"torch": torch.__version__, "cpu": cpu.model, "cpu_kind": cpu.kind, "capability": cpu.capability,
            "emulated": cpu.emulated, "threads": threads, "commit": zoo_commit(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Train with exactly ``threads`` intra-op threads (the reductions' order, hence the bytes, depend on it)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ShippedFeature:
    """The ``feature`` factory of an extractor whose weights ship in ``folder`` of package ``package``.

    Calling it loads and verifies the shipped files; :meth:`build` trains a new network (the only place
    that trains). ``stem`` names the files (for digits, it holds the recipe hash, so a changed recipe
    finds no shipped file and says so instead of loading stale weights).
    """

    name: str  # the registered extractor name
    package: str  # import name of the package whose data holds the files ("zoo.metrics")
    folder: str  # folder inside it ("weights")
    stem: Callable[[], str]  # file name without suffix
    train: Callable[[], tuple[nn.Module, dict[str, Any]]]  # -> (trained network, stats incl. accuracies)
    load: Callable[[dict[str, Tensor], dict[str, Any], Path], Extractor]  # (state, JSON, path) -> extractor

    @classmethod
    def of_recipe(cls, name: str, package: str, folder: str, *, recipe: Callable[[], Any],
                  network: Callable[[Any], nn.Module], extractor: Callable[..., Extractor],
                  train: Callable[[Any], tuple[nn.Module, dict[str, Any]]]) -> ShippedFeature:  # fmt: skip
        """The usual shape of a shipped network: a frozen recipe dataclass whose ``hash()`` names the files
        (``<name>-cnn-<hash>``, so a changed recipe finds no stale weights), ``network(recipe)`` the module,
        ``train(recipe)`` -> (trained module, stats), and ``extractor(net, recipe, manifest, path)``.
        Built from module-level callables, so the factory pickles into worker processes like any other."""
        return cls(name, package, folder, functools.partial(_recipe_stem, f"{name}-cnn", recipe),
                   functools.partial(_recipe_train, train, recipe),
                   functools.partial(_recipe_load, recipe, network, extractor))  # fmt: skip

    def directory(self) -> Path:
        return Path(str(resources.files(self.package).joinpath(self.folder)))

    def paths(self, folder: Path | None = None) -> tuple[Path, Path]:
        """(weights, JSON) in ``folder`` (default: the shipped folder)."""
        base = (folder or self.directory()) / self.stem()
        return base.with_suffix(".safetensors"), base.with_suffix(".json")

    def manifest(self, folder: Path | None = None) -> tuple[Path, dict[str, Any]]:
        """(weights path, its JSON) of the shipped network (or of the one built into ``folder``), the
        weights checked against the sha256 the JSON records."""
        weights, meta = self.paths(folder)
        rebuild = f"`zoo features build {self.name} --out {weights.parent} --force`"
        reinstall = f"reinstall the package '{distribution_of(self.package)}'"
        if not weights.is_file() or not meta.is_file():
            raise UserError(
                f"the weights of feature extractor '{self.name}' are missing ({weights.name} and {meta.name} in "
                f"{weights.parent}): " + (f"{reinstall}; if you changed the network's recipe, rebuild it with "
                f"{rebuild} (zoo never retrains it implicitly)" if folder is None else f"build them with {rebuild}")
            )
        fix = f"{reinstall} (or rebuild it with {rebuild})" if folder is None else f"rebuild it with {rebuild}"
        manifest = load_json(meta, fix=fix, what="a JSON object")
        recorded, actual = manifest.get("sha256"), sha256_of(weights)
        if recorded != actual:
            raise UserError(f"'{weights}' is damaged or not the file its JSON describes: its sha256 is {actual[:16]}... "
                            f"but {meta.name} records {str(recorded)[:16]}...; {fix}")  # fmt: skip
        return weights, manifest

    def open(self, folder: Path | None = None) -> Extractor:
        """The extractor of the shipped network, or of one :meth:`build` wrote into ``folder``."""
        from safetensors.torch import load_file

        weights, manifest = self.manifest(folder)
        return self.load(load_file(str(weights)), manifest, weights)

    def __call__(self) -> Extractor:
        return self.open()

    def build(self, out: Path, *, force: bool = False, threads: int = 1) -> tuple[Path, dict[str, Any]]:
        """Train the network and write ``<stem>.safetensors`` + ``<stem>.json`` into ``out`` (atomically:
        the JSON lands before the weights' rename, and a reader checks one against the other)."""
        from safetensors.torch import save_file

        weights, meta = self.paths(Path(out))
        if not force and (weights.exists() or meta.exists()):
            shipped = " (the shipped network)" if weights.parent.resolve() == self.directory().resolve() else ""
            raise UserError(f"'{weights}' already exists{shipped}; pass --force to replace it, or --out another folder")
        with torch_threads(threads):
            net, stats = self.train()
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        with atomic_path(weights) as tmp:
            save_file(state, str(tmp))
            manifest = {"name": self.name, **stats, "sha256": sha256_of(tmp), **provenance(threads)}
            manifest["identity"] = self.load(state, manifest, weights).identity()
            text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            atomic_write_text(meta, text)
        return weights, json.loads(text)  # as a reader sees it (tuples become lists)


def _recipe_stem(prefix: str, recipe: Callable[[], Any]) -> str:
    return f"{prefix}-{recipe().hash()}"


def _recipe_train(train: Callable[[Any], tuple[nn.Module, dict[str, Any]]], recipe: Callable[[], Any]) -> tuple[nn.Module, dict[str, Any]]:
    return train(recipe())


def _recipe_load(recipe: Callable[[], Any], network: Callable[[Any], nn.Module], extractor: Callable[..., Extractor],
                 state: dict[str, Tensor], manifest: dict[str, Any], path: Path) -> Extractor:  # fmt: skip
    made = recipe()
    net = network(made)
    net.load_state_dict(state)  # strict: every tensor name and shape of today's architecture
    return extractor(net.eval(), made, manifest, path)


def shipped(name: str, registry: Registry) -> ShippedFeature:
    """The registered ``feature`` factory ``name`` if it is a shipped network, else a UserError saying which are."""
    factory = registry.get("feature", name).factory
    if not isinstance(factory, ShippedFeature):
        names = [c.name for c in registry.list("feature") if isinstance(c.factory, ShippedFeature)]
        raise UserError(f"feature extractor '{name}' is not a network zoo trains and ships, so there is nothing to "
                        f"build; these are: {', '.join(names) or 'none'}")  # fmt: skip
    return factory
