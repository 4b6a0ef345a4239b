"""Running several classifiers on one image and summarising how they differ (no UI code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

import zoo

from . import backends
from .cards import Card, Job, Run, run_cards
from .models import Latency, ModelCache, timed_run
from .names import short_name
from .policy import Policy

TOP_K = 5


class CardResult(Card[list[tuple[str, float]]]):
    """One classifier's outcome on the image: its top-5 ``(label, probability)``, or why
    there is none."""

    @property
    def top(self) -> list[tuple[str, float]]:
        return self.result or []

    @property
    def latency_ms(self) -> float | None:
        """This request's run, in milliseconds."""
        return self.latency.ms if self.latency else None

    @property
    def median_ms(self) -> float | None:
        """The model's running median on this server, in milliseconds."""
        return self.latency.median_ms if self.latency else None

    @property
    def runs(self) -> int:
        """How many recent runs :attr:`median_ms` is over."""
        return self.latency.runs if self.latency else 0


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
    public mode (see :func:`demo.cards.run_cards`)."""
    run = classify_run(image)
    return run_cards(
        CardResult,
        "classification",
        run,
        names,
        cache,
        on_load=on_load,
        backend=backend,
        policy=policy,
    )


def classify_run(image: Image.Image) -> Run:
    """A run that classifies ``image`` (RGB) once and times it (preprocessing + forward pass,
    in ms; the one-off ONNX export is not included), beside the model's recent runs."""

    @torch.inference_mode()
    def run(job: Job) -> tuple[list[tuple[str, float]], Latency]:
        model, backend = job.loaded.model, job.backend
        if job.first_use and backend != "pytorch":  # the one-off export stays out of the timing
            zoo.classify(model, image, top_k=1, backend=backend)
        return timed_run(
            job.loaded, backend, lambda: zoo.classify(model, image, top_k=TOP_K, backend=backend)
        )

    return run


def summary(results: list[CardResult]) -> str:
    """A short Markdown verdict: do the top-1 labels agree, which model is most confident."""
    ran = [r for r in results if r.ok and r.top]
    if not ran:
        return "No model produced a prediction."
    tops = {r.top[0][0] for r in ran}
    if len(ran) == 1:
        agreement = f"Only **{short_name(ran[0].name)}** ran: top-1 **{ran[0].top[0][0]}**."
    elif len(tops) == 1:
        agreement = f"All {len(ran)} models agree on top-1: **{tops.pop()}**."
    else:
        votes = ", ".join(f"{short_name(r.name)} → *{r.top[0][0]}*" for r in ran)
        agreement = f"Their top-1 answers differ: {votes}. {_closeness(ran)}"
    confident = max(ran, key=lambda r: r.top[0][1])
    fastest = min(ran, key=lambda r: r.median_ms or float("inf"))
    return (
        f"{agreement}  \nMost confident: **{short_name(confident.name)}** "
        f"({confident.top[0][1]:.1%} on *{confident.top[0][0]}*). "
        f"Fastest here: **{short_name(fastest.name)}** (median {fastest.median_ms:.0f} ms of "
        f"{fastest.runs} run{'s' if fastest.runs != 1 else ''})."
    )


def _closeness(ran: list[CardResult]) -> str:
    """How far apart differing answers are: the classes every model has in its top-k, and
    whether each model's top-1 is in every other model's top-k."""
    shared = set.intersection(*({label for label, _ in r.top} for r in ran))
    k = min(len(r.top) for r in ran)
    common = [label for label, _ in ran[0].top if label in shared]  # in the first model's order
    within = all(r.top[0][0] in {label for label, _ in other.top} for r in ran for other in ran)
    if not common:
        return f"Their top-{k} lists share no class: the answers are far apart."
    listed = ", ".join(f"*{label}*" for label in common)
    near = " Each top-1 is in every other model's top-" + f"{k}." if within else ""
    return f"Their top-{k} lists share {len(common)} of {k} classes ({listed}).{near}"


TABLE_HEADERS = [
    "model",
    "top-1",
    "confidence",
    "latency (ms)",
    "median here (ms)",
    "backend",
    "params (M)",
    "input",
]
#: Each column's share of the table's width (the model name wraps; numbers fit on a line).
TABLE_WIDTHS = ["18%", "15%", "13%", "10%", "11%", "12%", "9%", "12%"]


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
                    round(r.median_ms or 0.0, 1),
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
    items = [_card_json(r) for r in results]
    ran = [r for r in results if r.ok and r.top]
    return {
        "results": items,
        "top1_agree": len({r.top[0][0] for r in ran}) == 1 if len(ran) > 1 else None,
        "most_confident": max(ran, key=lambda r: r.top[0][1]).name if ran else None,
    }


def _card_json(card: CardResult) -> dict[str, Any]:
    return {
        "name": card.name,
        "top": [{"label": label, "probability": p} for label, p in card.top],
        "latency_ms": card.latency_ms,
        "params": card.params,
        "input_size": card.input_size,
        "weight_source": card.weight_source,
        "error": card.error,
        "backend": card.backend,
        "note": card.note,
        "weights": card.weights,
        "median_ms": card.median_ms,
        "runs": card.runs,
        "ok": card.ok,
    }
