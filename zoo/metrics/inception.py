"""The ``inception`` feature extractor: the Inception-v3 of the original FID paper (Heusel et al. 2017,
"GANs trained by a two time-scale update rule converge to a local Nash equilibrium"), torch-fidelity's
TF-compatible port: 2048-d pool3 features and 1008 unbiased logits (Salimans et al. 2016, the IS).

Its weights come from a local file only (nothing downloads them at run time; ``zoo features fetch inception``
does it once, on request: :mod:`zoo.metrics.fetch`), and a weights file must not be able to run code: zoo reads it itself, as safetensors or with ``torch.load(weights_only=True)``, checks every
tensor name and shape against the architecture, and never hands the path to torch-fidelity (whose loader
unpickles without restriction).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import UserError
from zoo.metrics.extractor import Extractor, check_images

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS}"
INCEPTION_ENV = "ZOO_INCEPTION_WEIGHTS"


def inception_weights_location() -> Path:
    """Where zoo reads the weights from, whether or not the file is there: ``$ZOO_INCEPTION_WEIGHTS`` when set,
    else the torch hub cache (where ``zoo features fetch inception`` puts them, and torch-fidelity does)."""
    env = os.environ.get(INCEPTION_ENV)
    return Path(env).expanduser() if env else Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def inception_weights_path() -> Path:
    """The local FID Inception weights, or a UserError saying where to put them."""
    location = inception_weights_location()
    if location.is_file():
        return location
    env = os.environ.get(INCEPTION_ENV)
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS
    env_text = f"${INCEPTION_ENV}={env} (no such file)" if env else f"${INCEPTION_ENV} (unset)"
    raise UserError(
        f"the FID Inception-v3 weights file {INCEPTION_WEIGHTS} was not found; zoo looks at {env_text} and then at "
        f"{hub} (the torch hub cache, $TORCH_HOME/hub/checkpoints); run `zoo features fetch inception` once (it "
        f"downloads the file to {location} and checks it), or download it yourself from {INCEPTION_URL} and put it "
        f"in either place, or use another extractor (`zoo features` lists them)"
    )


def read_weights(path: Path, *, shown_as: str | None = None) -> dict[str, Tensor]:
    """A state dict read without running any code from the file: safetensors, or ``torch.load`` restricted
    to tensors (``weights_only=True``). A pickle that would build anything else is refused, unrun.
    ``shown_as`` names the file in errors instead of ``path`` (a download's temporary file)."""
    shown = shown_as or str(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a wrong, damaged or hostile file is the user's to fix
        raise UserError(f"{shown} is not the FID Inception-v3 weights: {_unreadable(err)}; get {INCEPTION_WEIGHTS} "
                        f"from {INCEPTION_URL}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise UserError(f"{shown} is not the FID Inception-v3 weights (it holds a {type(state).__name__}, not a state "
                        f"dict of tensors); get {INCEPTION_WEIGHTS} from {INCEPTION_URL}")
    return state


def _unreadable(err: Exception) -> str:
    text = str(err).strip()
    if isinstance(err, pickle.UnpicklingError) and "weights only" in text.lower():  # refused, not damaged
        return "it holds Python objects besides tensors, which zoo never unpickles (they can run code)"
    return f"it cannot be read ({type(err).__name__}: {text.splitlines()[0][:200] if text else ''})"


def check_state_dict(expected: dict[str, Tensor], found: dict[str, Tensor], path: Path) -> None:
    """Refuse weights whose names or shapes differ from the architecture's, naming the first differences."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [f"{k} {tuple(found[k].shape)} (wants {tuple(v.shape)})" for k, v in expected.items()
              if k in found and found[k].shape != v.shape]
    problems = [f"{len(names)} {what} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                for what, names in (("missing", missing), ("unexpected", unexpected), ("with the wrong shape", shapes))
                if names]
    if problems:
        raise UserError(f"{path} is not the FID Inception-v3 weights: tensors {'; '.join(problems)}; get "
                        f"{INCEPTION_WEIGHTS} from {INCEPTION_URL}")


@contextlib.contextmanager
def _weights_from(state: dict[str, Tensor]) -> Iterator[None]:
    """torch-fidelity's Inception builds itself and then loads weights from a path (with an unrestricted
    unpickler) or a URL. zoo never gives it the path: its URL loader is swapped, for the construction only,
    for one that hands over the state dict zoo has read and checked itself."""
    import torch_fidelity.feature_extractor_inceptionv3 as module

    original = module.load_state_dict_from_url
    module.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        module.load_state_dict_from_url = original


class InceptionV3(Extractor):
    """The standard FID Inception-v3 (torch-fidelity's TF-compatible port, weights of 2015-12-05)."""

    batch_size = 32  # every image becomes 3x299x299 inside

    def __init__(self, weights: str | Path) -> None:
        super().__init__("inception", num_features=2048, num_classes=1008)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        class Checked(FeatureExtractorInceptionV3):
            def load_state_dict(self, state_dict, strict=True, assign=False):  # noqa: ANN001, ANN202
                check_state_dict(self.state_dict(), state_dict, Path(weights))
                return super().load_state_dict(state_dict, strict=strict, assign=assign)

        self.weights_path = str(weights)
        with _weights_from(read_weights(Path(weights))):
            self.net = Checked("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=None)
        self.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        # torch-fidelity resizes to 299x299 itself (bilinear as TF 1.x) and wants uint8 RGB.
        check_images(images)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        features, logits = self.net(images.contiguous())
        return features, logits

    def info(self) -> dict[str, Any]:
        return {**super().info(), "weights": self.weights_path}


def inception() -> InceptionV3:
    """Factory of the ``inception`` extractor: weights from ``$ZOO_INCEPTION_WEIGHTS`` or the torch hub cache."""
    return InceptionV3(inception_weights_path())
