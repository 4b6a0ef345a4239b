"""Warming the demo up in the background at start, so that the first click is answered fast.

Each tab's default models are loaded, prepared for the default backend (the ONNX export and the
backend measurement of "auto" included; exports are cached on disk, so a restart reuses them)
and run once on an example photo: that first, cold run is recorded as the model's first run
here, so a visitor's first click is a warm run. A click during warm-up waits only for the
models it needs (:class:`demo.models.ModelCache` loads each model once, whoever asks first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

import zoo

from . import backends
from .cards import Job
from .compare import classify_run
from .models import ModelCache, describe
from .segmentation import segment_run

logger = logging.getLogger(__name__)


def default_models(limit: int = 4) -> list[tuple[str, str]]:
    """Every tab's default models, as ``(name, task)``: the Classify defaults, then the
    segmentation pickers' (the Video tab's are among them)."""
    from .models import DEFAULT_MODELS, segmentation_choices

    _, segmenters = segmentation_choices(limit)
    return [(n, "classification") for n in DEFAULT_MODELS] + [
        (n, "segmentation") for n in segmenters
    ]


class Warmup:
    """Loads, prepares and runs ``models`` once each in a background thread.

    Args:
        cache: The demo's model cache (what the tabs load from).
        models: ``(name, task)`` pairs, in the order to warm them.
        photo: The image each model runs on once (an example photo).
        backend: The backend to prepare (the pickers' default).
    """

    def __init__(
        self,
        cache: ModelCache,
        models: Sequence[tuple[str, str]],
        photo: Path | None,
        backend: str | None = None,
    ) -> None:
        self.cache = cache
        self.models = list(dict.fromkeys(models))  # each model once
        self.photo = photo
        self.backend = backend or backends.default()
        self.done: list[str] = []
        self.skipped: dict[str, str] = {}
        self.ready = threading.Event()
        self.seconds: float | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Warmup:
        """Start warming up in a daemon thread (returns at once)."""
        self._thread = threading.Thread(target=self._run, name="vision-zoo-warmup", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            image = zoo.load_image(self.photo) if self.photo is not None else None
            for name, task in self.models:
                try:
                    self._warm(name, task, image)
                    self.done.append(name)
                except Exception as exc:  # a model that fails here gets its card on click
                    self.skipped[name] = (
                        str(exc)
                        if isinstance(exc, LookupError)
                        else (f"{type(exc).__name__}: {exc}")
                    )
                    logger.warning("warm-up of %s failed: %s", name, self.skipped[name])
        finally:
            self.seconds = time.perf_counter() - start
            self.ready.set()

    def _warm(self, name: str, task: str, image: Image.Image | None) -> None:
        info = describe(name, task)
        if isinstance(info, str):  # no weights here, say: its card will say so on click
            raise LookupError(info)
        loaded = self.cache.get(info)
        first_use = backends.first_use(loaded.model)
        ran_on, _ = backends.resolve(loaded.model, self.backend, info.name)
        if image is not None:  # the run a tab makes, so its first (cold) run is spent here
            run = classify_run(image) if task == "classification" else segment_run(image)
            run(Job(loaded, ran_on, 0, first_use))

    def status(self) -> str:
        """One Markdown line for the page: warming up (how far), or ready."""
        total = len(self.models)
        if not self.ready.is_set():
            return (
                f"⏳ **Warming up**: {len(self.done)} of {total} default models loaded and run "
                "once; a click now waits for the models it needs."
            )
        missing = f" ({len(self.skipped)} could not be prepared)" if self.skipped else ""
        return (
            f"Ready: {len(self.done)} of {total} default models warmed up in "
            f"{self.seconds or 0:.0f} s{missing}."
        )
