"""Running several classifiers on one image and summarising how they differ (no UI code)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from PIL import Image

import zoo

from . import backends
from .models import Latency, LoadedModel, ModelCache, describe, timed_runs
from .policy import Policy

TOP_K = 5
logger = logging.getLogger(__name__)


@dataclass
class CardResult:
    """One model's outcome on the image: predictions, or why there are none."""

    name: str
    top: list[tuple[str, float]] = field(default_factory=list)
    latency_ms: float | None = None
    params: int | None = None
    input_size: tuple[int, int, int] | None = None
    weight_source: str | None = None
    error: str | None = None
    backend: str = "pytorch"
    note: str | None = None
    weights: str = ""
    first_run_ms: float | None = None
    warm_runs: int = 0

    @property
    def latency(self) -> Latency | None:
        """The timing as a :class:`~demo.models.Latency` (None without a run)."""
        if self.latency_ms is None or self.first_run_ms is None:
            return None
        return Latency(self.latency_ms, self.warm_runs, self.first_run_ms)

    @property
    def ok(self) -> bool:
        return self.error is None


@torch.inference_mode()
def run_model(
    loaded: LoadedModel,
    image: Image.Image,
    backend: str = "pytorch",
    on_prepare: Callable[[str], None] | None = None,
) -> CardResult:
    """Classify ``image`` (RGB) with one loaded model on ``backend`` (see
    :mod:`demo.backends`); time preprocessing + forward pass: the model's first (cold) run
    and the median of a few warm runs (ms, ONNX export not included)."""
    first = backends.first_use(loaded.model)
    ran_on, note = backends.resolve(loaded.model, backend, loaded.name, on_prepare)
    if first and ran_on == "onnxruntime":  # the one-off export stays out of the timing
        zoo.classify(loaded.model, image, top_k=1, backend=ran_on)
    top, latency = timed_runs(
        loaded, ran_on, lambda: zoo.classify(loaded.model, image, top_k=TOP_K, backend=ran_on)
    )
    return CardResult(
        name=loaded.name,
        top=top,
        latency_ms=latency.median_ms,
        params=loaded.params,
        input_size=loaded.input_size,
        weight_source=loaded.weight_source,
        backend=ran_on,
        note=note,
        weights=loaded.weights,
        first_run_ms=latency.first_ms,
        warm_runs=latency.warm_runs,
    )


def compare(
    image: Image.Image,
    names: list[str],
    cache: ModelCache,
    on_load: Callable[[str], None] | None = None,
    backend: str = "pytorch",
    policy: Policy | None = None,
) -> list[CardResult]:
    """Run every model in ``names`` on ``image`` on ``backend``; a model that cannot load (or
    that ``policy`` refuses) gets an error card, whose text never shows server paths in
    public mode."""
    policy = policy or Policy()
    results = []
    for name in names:
        info = describe(name, "classification", policy)
        if isinstance(info, str):
            results.append(CardResult(name=name, error=policy.public_text(f"{info.rstrip('.')}.")))
            continue
        try:
            loaded = cache.get(info, on_load)
            result = run_model(loaded, image, backend, on_load)
            result.note = policy.public_text(result.note) if result.note else None
            results.append(result)
        except zoo.ZooError as exc:
            results.append(CardResult(name=info.name, error=policy.public_text(str(exc))))
        except Exception as exc:  # one broken model must not take the other cards down
            logger.exception("model %s failed", info.name)
            message = f"it failed to load or run ({type(exc).__name__}: {exc})"
            results.append(CardResult(name=info.name, error=policy.public_text(message)[:500]))
    return results


def summary(results: list[CardResult]) -> str:
    """A short Markdown verdict: do the top-1 labels agree, which model is most confident."""
    ran = [r for r in results if r.ok and r.top]
    if not ran:
        return "No model produced a prediction."
    tops = {r.top[0][0] for r in ran}
    if len(ran) == 1:
        agreement = f"Only **{ran[0].name}** ran: top-1 **{ran[0].top[0][0]}**."
    elif len(tops) == 1:
        agreement = f"All {len(ran)} models agree on top-1: **{tops.pop()}**."
    else:
        votes = ", ".join(f"{r.name} → *{r.top[0][0]}*" for r in ran)
        agreement = f"The models **disagree** on top-1: {votes}."
    confident = max(ran, key=lambda r: r.top[0][1])
    fastest = min(ran, key=lambda r: r.latency_ms or float("inf"))
    return (
        f"{agreement}  \nMost confident: **{confident.name}** "
        f"({confident.top[0][1]:.1%} on *{confident.top[0][0]}*). "
        f"Fastest: **{fastest.name}** (median {fastest.latency_ms:.0f} ms)."
    )


TABLE_HEADERS = [
    "model",
    "top-1",
    "confidence",
    "median latency (ms)",
    "first run (ms)",
    "backend",
    "params (M)",
    "input",
]


def table(results: list[CardResult]) -> list[list[Any]]:
    """One row per model for a ``gr.Dataframe`` with :data:`TABLE_HEADERS`."""
    rows = []
    for r in results:
        if r.ok and r.top:
            size = f"{r.input_size[1]}×{r.input_size[2]}" if r.input_size else ""
            rows.append(
                [
                    r.name,
                    r.top[0][0],
                    f"{r.top[0][1]:.1%}",  # people read 39.1 %, not 0.391
                    round(r.latency_ms or 0.0, 1),
                    round(r.first_run_ms or 0.0, 1),
                    backends.label(r.backend),
                    round((r.params or 0) / 1e6, 2),
                    size,
                ]
            )
        else:
            rows.append([r.name, "unavailable", None, None, None, "", None, ""])
    return rows


def to_json(results: list[CardResult]) -> dict[str, Any]:
    """The comparison as plain JSON (what the API endpoint returns)."""
    items = []
    for r in results:
        item = asdict(r)
        item["top"] = [{"label": label, "probability": p} for label, p in r.top]
        item["ok"] = r.ok
        items.append(item)
    ran = [r for r in results if r.ok and r.top]
    return {
        "results": items,
        "top1_agree": len({r.top[0][0] for r in ran}) == 1 if len(ran) > 1 else None,
        "most_confident": max(ran, key=lambda r: r.top[0][1]).name if ran else None,
    }
