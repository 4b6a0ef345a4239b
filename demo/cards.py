"""One card per chosen model: what a card holds, and the one loop every tab runs (no UI code).

A tab hands :func:`run_cards` its model names and a *run* callable (classify an image, segment
it, segment a clip into a file); the loop does the rest the same way for every tab: describe
the model, refuse it by policy, load it, pick its backend, run it, and turn any failure into a
card that says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import zoo

from . import backends
from .models import (
    VISITOR_WORDS,
    Latency,
    LoadedModel,
    ModelCache,
    describe,
    one_line,
    weights_problem,
)
from .names import cut_echoes, name_html, short_name
from .policy import Policy

logger = logging.getLogger(__name__)
#: Longest message an unexpected failure puts on a card (in characters).
MAX_ERROR_CHARS = 500

R = TypeVar("R")
C = TypeVar("C", bound="Card[Any]")


@dataclass
class Card(Generic[R]):
    """One model's outcome in a tab: its result, or why there is none.

    Attributes:
        name: The model's canonical name (as typed, when it could not be described).
        result: What the tab's run returned (None when the model did not run).
        params: Parameter count.
        input_size: The ``(C, H, W)`` the weights were trained at.
        weight_source: Where the weights come from (``installed:...``, ``hf-hub:...``).
        error: Why there is no result, for a visitor to read (None when it ran).
        backend: What it ran on (``pytorch`` or ``onnxruntime``).
        note: A remark about the run (e.g. why ONNX Runtime was not used).
        weights: The card's Markdown line about the weights (source, data, licence).
        latency: How long one run took (None where the tab does not time runs).
    """

    name: str
    result: R | None = None
    params: int | None = None
    input_size: tuple[int, int, int] | None = None
    weight_source: str | None = None
    error: str | None = None
    backend: str = "pytorch"
    note: str | None = None
    weights: str = ""
    latency: Latency | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    def unavailable(self) -> str:
        """The Markdown of a card without a result: its name (a long one cut, in full as a
        tooltip) and why."""
        return f"### {name_html(self.name)}\n**Unavailable:** {self.error}"

    def provenance(self) -> str:
        """The Markdown that ends a card with a result: the weights' line, then the note."""
        line = self.weights or f"Weights: {self.weight_source}"
        return line + (f"  \n*{self.note}*" if self.note else "")

    @classmethod
    def ran(cls: type[C], job: Job, result: Any, latency: Latency | None, note: str | None) -> C:
        """The card of a model that ran: ``result`` and what ``job`` says about the model."""
        loaded = job.loaded
        return cls(
            name=loaded.name,
            result=result,
            params=loaded.params,
            input_size=loaded.input_size,
            weight_source=loaded.weight_source,
            backend=job.backend,
            note=note,
            weights=loaded.weights,
            latency=latency,
        )

    def json_head(self) -> dict[str, Any]:
        """The keys every tab's JSON starts a card with: name, ok, error."""
        return {"name": self.name, "ok": self.ok, "error": self.error}


@dataclass(frozen=True)
class Job:
    """One model to run, as a tab's run callable receives it.

    Attributes:
        loaded: The loaded model and what the cards show about it.
        backend: The backend to run on, resolved (``pytorch`` or ``onnxruntime``).
        index: The model's position among the names chosen.
        first_use: Whether the model had not been prepared for ONNX Runtime in this process
            before this job (its export happened while resolving, or happens on its first
            ONNX Runtime run).
    """

    loaded: LoadedModel
    backend: str
    index: int
    first_use: bool


#: A tab's run: one model's result, and its latency where the tab times it.
Run = Callable[[Job], tuple[Any, Latency | None]]


def run_cards(
    card: type[C],
    task: str,
    run: Run,
    names: list[str],
    cache: ModelCache,
    *,
    on_load: Callable[[str], None] | None = None,
    backend: str = "pytorch",
    policy: Policy | None = None,
    fatal: tuple[type[Exception], ...] = (),
) -> list[C]:
    """One ``card`` per model in ``names``: ``run`` applied to each model that ``policy``
    allows, whose weights load here and that is a ``task`` model; the others get a card that
    says why (never random-weight output). A name that is an alias of a model already run
    is skipped.

    Args:
        card: The tab's card class.
        task: ``"classification"`` or ``"segmentation"``.
        run: Runs one loaded model (see :class:`Job`).
        names: The chosen model names, in order.
        cache: Where models are loaded once.
        on_load: Called with a model's name before it loads, and with a sentence before a
            backend is prepared.
        backend: ``"pytorch"``, ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (see
            :mod:`demo.backends`).
        policy: What visitors may load (default: everything); messages never show server
            paths in public mode.
        fatal: Exceptions that are not one model's fault: they propagate instead of
            becoming a card.

    Raises:
        Exception: Any of ``fatal``, as ``run`` raised it.
    """
    policy = policy or Policy()
    cards: list[C] = []
    for index, name in enumerate(names):
        info = describe(name, task, policy)
        if isinstance(info, str):
            cards.append(card(name=name, error=policy.public_text(f"{info.rstrip('.')}.")))
            continue
        if any(c.name == info.name for c in cards):  # an alias of a model already run
            continue
        try:
            loaded = cache.get(info, on_load)
            first_use = backends.first_use(loaded.model)
            ran_on, note = backends.resolve(loaded.model, backend, info.name, on_load)
            job = Job(loaded, ran_on, index, first_use)
            result, latency = run(job)
        except fatal:
            raise
        except Exception as exc:  # one broken model must not take the other cards down
            cards.append(card(name=info.name, error=failure(info.name, exc, policy)))
            continue
        cards.append(card.ran(job, result, latency, policy.public_text(note) if note else None))
    return cards


def failure(name: str, exc: Exception, policy: Policy) -> str:
    """What a card says when model ``name`` failed with ``exc``, and one line in the log.

    A :class:`zoo.ZooError` is the visitor's to read: its own message (in public mode, weights
    that cannot be loaded get :data:`demo.models.VISITOR_WORDS`, and the zoo's advice to the
    operator goes to the log). Anything else is a bug: logged with its traceback and
    summarised in at most :data:`MAX_ERROR_CHARS`.
    """
    if isinstance(exc, zoo.ZooError):
        logger.warning("%s failed: %s", short_name(name), one_line(cut_echoes(str(exc), name)))
        if policy.public and isinstance(exc, zoo.WeightsUnavailableError):
            return VISITOR_WORDS[weights_problem(exc)]
        return policy.public_text(cut_echoes(str(exc), name))
    logger.exception("model %s failed", name, exc_info=exc)
    message = f"it failed to load or run ({type(exc).__name__}: {exc})"
    return policy.public_text(message)[:MAX_ERROR_CHARS]
