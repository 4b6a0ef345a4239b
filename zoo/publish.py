"""Convert a tag's published checkpoint once and push it to the Hugging Face Hub.

``python -m zoo.publish fcn_resnet50.tv_coco_voc_520 --repo ORG/NAME`` takes the upstream file
(torchvision's, mmsegmentation's ``.pth``) from ``--file`` or the download cache (downloading
it if needed), checks its sha256 against the hash in the published file name, loads it through
the tag's own pretrained path and pushes ``model.safetensors``, ``config.json`` and a model card
that names the source file, its hash, the weights' licence and the data set's terms. Users then
load ``hf-hub:ORG/NAME`` instead of converting the ``.pth`` themselves.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from timm.models import get_pretrained_cfg

from .errors import CheckpointError, ConfigError, HubUnreachableError, ZooError
from .factory import create_model
from .hub import hub_endpoint, hub_reachable
from .meta import meta_of
from .push import check_repo_id, push_to_hub
from .registry import resolve_name, zoo_architectures
from .weights import download_checked, file_sha256, sha256_prefix


def publishable_tags() -> list[str]:
    """The zoo's tags whose weights are published at a URL (not on the Hub), sorted."""
    import timm

    architectures = set(zoo_architectures())
    tags = []
    for name in timm.list_pretrained():
        cfg = get_pretrained_cfg(name)
        if name.split(".")[0] in architectures and cfg is not None and _url_only(cfg):
            tags.append(name)
    return sorted(tags)


def _url_only(cfg: object) -> bool:
    url = getattr(cfg, "url", None)
    return isinstance(url, str) and bool(url) and not getattr(cfg, "hf_hub_id", None)


def published_url(tag: str) -> tuple[str, str]:
    """``(architecture.tag, url)`` of a tag whose weights can be published.

    Raises:
        UnknownModelError: Unknown architecture or tag.
        ConfigError: The tag has no weights at a URL, is already on the Hub, or is not one of
            the zoo's (the message lists the publishable tags).
    """
    full_name = resolve_name(tag)
    cfg = get_pretrained_cfg(full_name)
    choices = f"Publishable tags: {', '.join(publishable_tags()) or '(none)'}."
    if cfg is not None and getattr(cfg, "hf_hub_id", None):
        raise ConfigError(
            f"'{full_name}' is already on the Hub ({cfg.hf_hub_id}); nothing to convert. {choices}"
        )
    if cfg is None or not _url_only(cfg):
        raise ConfigError(f"'{full_name}' has no weights published at a URL. {choices}")
    if full_name.split(".")[0] not in zoo_architectures():
        raise ConfigError(f"'{full_name}' is timm's, not a zoo checkpoint. {choices}")
    return full_name, str(cfg.url)


def _given_file(file: str | Path | None) -> Path | None:
    """``--file`` as a path (None when not given).

    Raises:
        CheckpointError: It is not a file.
    """
    if file is None:
        return None
    path = Path(file).expanduser()
    if not path.is_file():
        raise CheckpointError(f"--file {path} is not a file.")
    return path


def _checked_file(
    full_name: str, url: str, path: Path | None, allow_hash_mismatch: bool, known: str | None
) -> tuple[Path, str, str]:
    """The checkpoint to convert, its full sha256 and whether it matches the published hash
    (``"yes"``, ``"no"``, or ``"unknown"`` when the URL carries none)."""
    if path is None:
        try:
            path = download_checked(full_name, url)
        except HubUnreachableError as exc:
            raise HubUnreachableError(f"{exc} With the file at hand: --file PATH.") from exc
    digest = file_sha256(path)
    prefix = sha256_prefix(url)
    expected = [h for h in (prefix, known) if h]
    if not expected:
        return path, digest, "unknown"
    if all(digest.startswith(h.lower()) for h in expected):
        return path, digest, "yes"
    if not allow_hash_mismatch:
        raise CheckpointError(
            f"{path} (sha256 {digest[:12]}…) is not the published checkpoint of '{full_name}': "
            f"{url} has sha256 {' / '.join(expected)}. Use the published file, or pass "
            "--allow-hash-mismatch to publish it anyway (the model card will say so)."
        )
    return path, digest, "no"


def publish(
    tag: str,
    repo_id: str,
    *,
    file: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
    allow_hash_mismatch: bool = False,
) -> str:
    """Convert a tag's published checkpoint and push it to ``repo_id`` on the Hub.

    Args:
        tag: A registered ``architecture[.tag]`` whose weights are published at a URL (see
            :func:`publishable_tags`).
        repo_id: ``org/name`` on the Hub; created if missing.
        file: The upstream checkpoint, downloaded by hand (default: the cached download,
            fetched first if needed).
        private: Create the repository as private.
        token: Hub token (default: the logged-in one / ``HF_TOKEN``).
        allow_hash_mismatch: Publish a file whose sha256 does not match the published hash
            (the card then says it is not the published file).

    Returns:
        The URL of the commit.

    Raises:
        UnknownModelError: Unknown architecture or tag.
        ConfigError: The tag has no weights at a URL, or ``repo_id`` is not ``org/name``.
        CheckpointError: The file is missing, unreadable, does not fit the architecture, or
            does not match the published hash (without ``allow_hash_mismatch``).
        HubUnreachableError: The file must be downloaded and cannot be, or the Hub does not
            answer (nothing is uploaded).
    """
    full_name, url = published_url(tag)
    check_repo_id(repo_id)
    given = _given_file(file)  # a mistyped path is said before any network wait
    if not hub_reachable(refresh=True):  # before a download and a conversion that would be lost
        raise HubUnreachableError(
            f"Cannot publish '{full_name}' to '{repo_id}': the Hugging Face Hub at "
            f"{hub_endpoint()} is unreachable. Nothing was converted or uploaded."
        )
    meta = meta_of(get_pretrained_cfg(full_name))
    path, digest, matches = _checked_file(
        full_name, url, given, allow_hash_mismatch, meta.source.get("sha256")
    )
    source = {**meta.source, "url": url, "sha256": digest, "sha256_matches_published": matches}
    model = create_model(
        full_name,
        pretrained=True,
        pretrained_cfg_overlay={"file": str(path), "zoo": dataclasses.replace(meta, source=source)},
    )
    message = f"Convert {full_name} from {url} with vision-zoo"
    return push_to_hub(model.eval(), repo_id, private=private, token=token, commit_message=message)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m zoo.publish",
        description="Convert a tag's published checkpoint (torchvision, mmsegmentation) to "
        "safetensors and push it with config.json and a model card to the Hugging Face Hub.",
    )
    parser.add_argument("tag", help="registered tag, e.g. fcn_resnet50.tv_coco_voc_520")
    parser.add_argument("--repo", required=True, help="Hub repository, ORG/NAME")
    parser.add_argument("--file", help="the upstream checkpoint (default: download it)")
    parser.add_argument("--private", action="store_true", help="create a private repository")
    parser.add_argument(
        "--allow-hash-mismatch",
        action="store_true",
        help="publish a file that is not the published one (the card says so)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m zoo.publish TAG --repo ORG/NAME``: 0 on success (the commit URL on
    stdout), 2 with one line on stderr for a zoo error."""
    args = _parser().parse_args(None if argv is None else [str(a) for a in argv])
    try:
        url = publish(
            args.tag,
            args.repo,
            file=args.file,
            private=args.private,
            allow_hash_mismatch=args.allow_hash_mismatch,
        )
    except ZooError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
