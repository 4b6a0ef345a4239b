"""Loading models once, reporting why one cannot be loaded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import zoo

DEFAULT_MODELS = [
    "tf_efficientnet_lite0.in1k",
    "tf_efficientnet_lite1.in1k",
    "tf_efficientnet_lite2.in1k",
]
#: Offered in the picker besides the defaults; any other timm/zoo classifier can be typed in.
SUGGESTED_MODELS = [
    "mobilenetv3_large_100.ra_in1k",
    "resnet50.a1_in1k",
    "convnext_tiny.in12k_ft_in1k",
    "vit_small_patch16_224.augreg_in21k_ft_in1k",
]


@dataclass
class LoadedModel:
    """A model ready to run, with what the cards show about it."""

    name: str
    model: nn.Module
    params: int
    input_size: tuple[int, int, int]
    weight_source: str
    load_seconds: float


_NOUN = {"classification": "classifier", "segmentation": "segmentation model"}


def describe(name: str, task: str = "classification") -> zoo.ModelInfo | str:
    """What the cards need about ``name`` (one :func:`zoo.model_info` call, at most one short
    Hub probe, never a download), or why it cannot be shown: another task, no weights here,
    an unknown or malformed name."""
    try:
        info = zoo.model_info(name, check_availability=True)
    except zoo.ZooError as exc:
        return str(exc)
    except Exception as exc:  # e.g. a Hub that answers with an error page
        return f"its description could not be read ({type(exc).__name__}: {exc})"[:500]
    if info.task != task:
        return f"{info.name} is a {info.task} model, not a {_NOUN[task]}"
    if not info.available:
        return info.availability
    return info


def availability(name: str, task: str = "classification") -> tuple[bool, str]:
    """Whether pretrained weights for ``name`` can be loaded here, and where from / why not."""
    info = describe(name, task)
    return (False, info) if isinstance(info, str) else (True, info.availability)


def segmentation_models() -> list[str]:
    """Every registered segmentation tag with published weights (the picker's choices)."""
    return zoo.list_models(task="segmentation", pretrained=True)


def choice_label(name: str, ok: bool, why: str) -> str:
    """A picker entry: the name and where its weights come from, or why they cannot load."""
    return f"{name} — {why}" if ok else f"{name} — unavailable: {why}"


def segmentation_choices(limit: int = 4) -> tuple[list[tuple[str, str]], list[str]]:
    """The segmentation pickers' choices (one availability check per tag) and their default
    selection: the tags whose weights load here now, installed/bundled ones first."""
    choices, ready = [], []
    for name in segmentation_models():
        ok, why = availability(name, "segmentation")
        choices.append((choice_label(name, ok, why), name))
        if ok:
            ready.append(name)
    ready.sort(key=lambda name: not zoo.model_info(name).weight_source.startswith("installed:"))
    return choices, ready[:limit]


def loading_progress(progress: Callable[..., Any]) -> Callable[[str], None]:
    """An ``on_load``/``on_prepare`` callback that shows ``message`` in a ``gr.Progress``:
    model names get the first-use loading message, sentences are shown as they are."""

    def on_load(message: str) -> None:
        if message.endswith("…"):
            progress(None, desc=message)
        else:
            progress(None, desc=f"Loading {message} (first use; later runs reuse it)…")

    return on_load


class ModelCache:
    """Loads each model once (thread-safe) and keeps the most recent ``capacity`` in memory."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, info: zoo.ModelInfo, on_load: Callable[[str], None] | None = None) -> LoadedModel:
        """The loaded model ``info.name``; loads it on first use (calling ``on_load`` first).

        Raises:
            zoo.ZooError: The weights cannot be loaded.
        """
        name = info.name
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            name_lock = self._loading.setdefault(name, threading.Lock())
        with name_lock:
            if name in self._models:
                return self._models[name]
            if on_load is not None:
                on_load(name)
            loaded = self._load(info)
        with self._lock:
            self._models[name] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return loaded

    @staticmethod
    def _load(info: zoo.ModelInfo) -> LoadedModel:
        start = time.perf_counter()
        model = zoo.create_model(info.name, pretrained=True).eval()
        with torch.inference_mode():  # warm-up so the first timed run is representative
            model(torch.zeros(1, *info.input_size))
        return LoadedModel(
            name=info.name,
            model=model,
            params=info.params,
            input_size=info.input_size,
            weight_source=info.weight_source,
            load_seconds=time.perf_counter() - start,
        )
