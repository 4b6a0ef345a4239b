"""Loading classifiers once, reporting why one cannot be loaded."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

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
    """A classifier ready to run, with what the cards show about it."""

    name: str
    model: nn.Module
    params: int
    input_size: tuple[int, int, int]
    weight_source: str
    load_seconds: float


def availability(name: str) -> tuple[bool, str]:
    """Whether pretrained weights for ``name`` can be loaded here, and where from / why not.

    Uses at most one short Hub probe (cached); never downloads.
    """
    if name.startswith(("local-dir:", "hf-hub:")):
        return _saved_availability(name)
    try:
        full_name = zoo.factory.resolve_name(name)
        if zoo.model_task(full_name) != "classification":
            return False, f"{full_name} is a {zoo.model_task(full_name)} model, not a classifier"
        source = zoo.weight_source(full_name)
    except zoo.ZooError as exc:
        return False, str(exc)
    kind, _, where = source.partition(":")
    if kind == "installed":
        return True, f"installed weights ({where})"
    if kind == "none":
        return False, "no pretrained weights exist for this name"
    if kind == "hub":
        if zoo.hub_reachable():
            return True, f"Hugging Face Hub ({where})"
        if _hub_cached(where):
            return True, f"local Hub cache ({where})"
        return False, "the Hugging Face Hub is unreachable and these weights are not cached"
    return True, f"download ({where})"


def _saved_availability(name: str) -> tuple[bool, str]:
    source, _, where = name.partition(":")
    if source == "local-dir":
        try:
            config = zoo.io.read_config(where)
        except zoo.CheckpointError as exc:
            return False, str(exc)
        task = config.get("task", "classification")
        if task != "classification":
            return False, f"{where} holds a {task} model, not a classifier"
        return True, f"saved model in {where}"
    repo_id = where.split("@")[0]
    if zoo.hub_reachable():
        return True, f"Hugging Face Hub ({repo_id})"
    if _hub_cached(repo_id):
        return True, f"local Hub cache ({repo_id})"
    return False, "the Hugging Face Hub is unreachable and this repository is not cached"


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(repo_id, filename), str):
            return True
    return False


class ModelCache:
    """Loads each model once (thread-safe) and keeps the most recent ``capacity`` in memory."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def is_loaded(self, name: str) -> bool:
        return name in self._models

    def get(self, name: str, on_load: Callable[[str], None] | None = None) -> LoadedModel:
        """The loaded model ``name``; loads it on first use (calling ``on_load(name)`` first).

        Raises:
            zoo.ZooError: The model is unknown or its weights cannot be loaded.
        """
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
            loaded = self._load(name)
        with self._lock:
            self._models[name] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return loaded

    @staticmethod
    def _load(name: str) -> LoadedModel:
        start = time.perf_counter()
        saved = name.startswith(("local-dir:", "hf-hub:"))
        source = name if saved else zoo.weight_source(name)
        model = zoo.create_model(name, pretrained=True).eval()
        input_size = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
        with torch.inference_mode():  # warm-up so the first timed run is representative
            model(torch.zeros(1, *input_size))
        return LoadedModel(
            name=name,
            model=model,
            params=sum(p.numel() for p in model.parameters()),
            input_size=input_size,  # type: ignore[arg-type]
            weight_source=source,
            load_seconds=time.perf_counter() - start,
        )
