"""Names in timm's registry: resolving them, their records, which architectures are the zoo's.

There is one registry, timm's. The zoo's architectures are registered there with timm's
``@register_model``, and every tag's metadata is its :class:`~zoo.meta.ZooCfg` in that
registry (see :mod:`zoo.meta`).
"""

from __future__ import annotations

import dataclasses
import difflib

import timm
from timm.models import _registry as timm_registry
from timm.models import get_pretrained_cfg, model_entrypoint, split_model_name_tag

from .errors import UnknownModelError
from .meta import ZooCfg, ZooMeta, meta_of


def close_matches(name: str, limit: int = 5) -> list[str]:
    """Registered architectures whose names resemble ``name``'s architecture."""
    architecture, _ = split_model_name_tag(name)
    names = timm.list_models()
    matches = difflib.get_close_matches(architecture, names, n=limit, cutoff=0.6)
    return matches or [n for n in names if architecture.lower() in n][:limit]


def unknown_model(name: str) -> UnknownModelError:
    """The error for a name that is not registered, listing close matches."""
    matches = close_matches(name)
    hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
    return UnknownModelError(
        f"Unknown model '{name}'.{hint} zoo.list_models('pattern*') lists the registered names."
    )


def resolve_name(name: str) -> str:
    """Resolve a registry name to ``architecture.tag``, filling in the default tag.

    Raises:
        UnknownModelError: The architecture or the tag does not exist (lists close matches or
            the valid tags).
    """
    architecture, tag = split_model_name_tag(name)
    if not timm.is_model(architecture):
        raise unknown_model(name)
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError as exc:
        tags = timm.list_pretrained(f"{architecture}.*")
        raise UnknownModelError(
            f"Unknown tag '{tag}' for '{architecture}'. Valid: {', '.join(tags) or '(none)'}."
        ) from exc
    return f"{architecture}.{cfg.tag}" if cfg is not None and cfg.tag else architecture


def model_task(name: str) -> str:
    """The task of a registered ``architecture[.tag]``: from its record (timm's own models are
    classifiers).

    Raises:
        UnknownModelError: Unknown architecture or tag.
    """
    return meta_of(get_pretrained_cfg(resolve_name(name))).task


def zoo_architectures(task: str | None = None) -> list[str]:
    """The architectures the zoo itself defines (not timm's), sorted; optionally of one task.
    Read from timm's registry at each call, so an architecture registered later is listed."""
    return [
        name
        for name in timm.list_models()
        if model_entrypoint(name).__module__.startswith("zoo.models.")
        and (task is None or model_task(name) == task)
    ]


def register_weights(name: str, meta: ZooMeta) -> None:
    """Attach a record to a pretrained tag that timm itself registers (e.g. offline weights for
    ``tf_efficientnet_lite0.in1k``): its cfg in timm's registry becomes a :class:`ZooCfg`.

    The zoo's own tags declare their ``ZooCfg`` in ``default_cfgs`` instead.

    Raises:
        UnknownModelError: ``name`` is not a registered ``architecture.tag``.
    """
    cfgs = timm_registry._model_pretrained_cfgs
    if name not in cfgs:
        raise unknown_model(name)
    architecture, tag = split_model_name_tag(name)
    values = {f.name: getattr(cfgs[name], f.name) for f in dataclasses.fields(cfgs[name])}
    record = ZooCfg(**{**values, "zoo": meta})
    for key, cfg in list(cfgs.items()):  # the tagged entry and, for the default tag, the bare one
        if key in (name, architecture) and cfg.tag == (tag or None):
            cfgs[key] = record
    default_cfgs = getattr(timm_registry._model_default_cfgs.get(architecture), "cfgs", {})
    if tag in default_cfgs:
        default_cfgs[tag] = record


def recorded_tags() -> list[str]:
    """Every ``architecture.tag`` (or tagless architecture) whose cfg carries a zoo record:
    the zoo's own variants and the timm tags given one by :func:`register_weights`."""
    cfgs = timm_registry._model_pretrained_cfgs
    return sorted(
        name
        for name, cfg in cfgs.items()
        if isinstance(cfg, ZooCfg) and (cfg.tag is None or "." in name)
    )
