"""Loading models once, reporting why one cannot be loaded, timing their runs."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from torch import nn

import zoo

from .names import cut_echoes, short_name
from .policy import Policy
from .provenance import weights_line

logger = logging.getLogger(__name__)
INFO, WARNING = logging.INFO, logging.WARNING
T = TypeVar("T")
#: Runs remembered per model and backend for the running median a card shows.
RECENT_RUNS = 50

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
    weights: str = ""
    #: The model's first (cold) run in this process, per backend, in milliseconds.
    first_ms: dict[str, float] = field(default_factory=dict)
    #: Its last :data:`RECENT_RUNS` runs in this process, per backend, in milliseconds.
    recent: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, backend: str, ms: float) -> Latency:
        """Add a run of ``ms`` milliseconds on ``backend``; the :class:`Latency` to show."""
        with self._lock:
            runs = self.recent.setdefault(backend, deque(maxlen=RECENT_RUNS))
            first = backend not in self.first_ms
            if first:
                self.first_ms[backend] = ms
            runs.append(ms)
            return Latency(ms, statistics.median(runs), len(runs), first)


@dataclass(frozen=True)
class Latency:
    """How long a card's model took on this request, beside its recent runs on this server.

    Attributes:
        ms: This request's run (preprocessing, forward pass, post-processing), in
            milliseconds.
        median_ms: Median of the model's last runs on this backend in this server process
            (this one included, at most :data:`RECENT_RUNS`), in milliseconds.
        runs: How many runs ``median_ms`` is over.
        first: Whether this was the model's first run on this backend here: cold caches and
            lazy initialisation make it slower than the runs after it.
    """

    ms: float
    median_ms: float
    runs: int
    first: bool = False

    def label(self) -> str:
        """``"41 ms · median 38 ms of 12 runs here"``; a first run says that it is one."""
        if self.first:
            return f"{self.ms:.0f} ms (first run here: cold caches, later runs are faster)"
        plural = "s" if self.runs != 1 else ""
        return f"{self.ms:.0f} ms · median {self.median_ms:.0f} ms of {self.runs} run{plural} here"


def timed_run(loaded: LoadedModel, backend: str, run: Callable[[], T]) -> tuple[T, Latency]:
    """Call ``run`` (one inference) once, timed, and add it to ``loaded``'s recent runs.

    Returns:
        The result and its :class:`Latency`.
    """
    start = time.perf_counter()
    result = run()
    return result, loaded.record(backend, (time.perf_counter() - start) * 1000.0)


_NOUN = {"classification": "classifier", "segmentation": "segmentation model"}


def describe(
    name: str, task: str = "classification", policy: Policy | None = None, remedy: bool = True
) -> zoo.ModelInfo | str:
    """What the cards need about ``name`` (one :func:`zoo.model_info` call, at most one short
    Hub probe, never a weights download), or why it cannot be shown: refused by ``policy``
    (checked first: nothing is read before), another task, no weights here, an unknown or
    malformed name. Echoes of a long typed name are cut (:func:`demo.names.cut_echoes`).

    Args:
        name: The name as typed.
        task: The tab's task.
        policy: What visitors may load (default: everything); in public mode missing weights
            are explained in visitor words (see :func:`unavailable`, :data:`VISITOR_WORDS`).
        remedy: A card's reason: missing weights end with what to do, and the reason is
            logged in one line (a warning with the zoo's reason and remedy when weights
            cannot load, else at INFO). Without it (a picker's label) only the zoo's reason
            is returned and nothing is logged.
    """
    why, operator, level = _why_not(name, task, policy, remedy)
    if isinstance(why, str) and remedy:
        logger.log(level, "%s not run: %s", short_name(name), one_line(operator or why))
    return why


def _why_not(
    name: str, task: str, policy: Policy | None, remedy: bool
) -> tuple[zoo.ModelInfo | str, str | None, int]:
    """:func:`describe`'s answer; for weights that cannot load, the operator's words (the
    zoo's reason and full remedy; None otherwise); the level to log the answer at (WARNING
    where the operator can make the weights loadable or the zoo failed unexpectedly, else
    INFO)."""
    public = policy is not None and policy.public
    refusal = policy.refusal(name) if policy is not None else None
    if refusal is not None:
        return cut_echoes(refusal, name), None, INFO
    try:
        info = zoo.model_info(name, check_availability=True)
    except zoo.WeightsUnavailableError as exc:  # e.g. a Hub model's config.json, Hub offline
        zoo_words = cut_echoes(str(exc), name)
        why = VISITOR_WORDS[weights_problem(exc)] if public else zoo_words
        return why, zoo_words, WARNING
    except zoo.ZooError as exc:
        return cut_echoes(str(exc), name), None, INFO
    except Exception as exc:  # e.g. a Hub that answers with an error page
        why = cut_echoes(f"its description could not be read ({type(exc).__name__}: {exc})", name)
        return why[:500], None, WARNING
    if info.task != task:
        other = cut_echoes(f"{info.name} is a {info.task} model, not a {_NOUN[task]}", name)
        return other, None, INFO
    if not info.available:
        level = WARNING if info.weights.remedy else INFO
        if not remedy:
            return info.weights.reason, None, level
        return unavailable(info.weights, public), operator_words(info.weights), level
    return info, None, INFO


#: What a visitor can do about weights that cannot load here, per
#: :attr:`zoo.WeightSource.problem`, where the zoo's own remedy does not fit a server.
_REMEDIES = {
    "no-weights": "pick a model from the list, or train one and type local-dir:PATH",
    "unreachable": "pick a model marked installed or bundled",
}
#: Why weights cannot load, per :attr:`zoo.WeightSource.problem`, in the words of a public
#: demo: what its visitors can do (no installs, no server folders, no network set-up).
VISITOR_WORDS = {
    "no-weights": "no pretrained weights are published for this model; pick one from the list",
    "unreachable": (
        "this model's weights can't be downloaded right now; try one of the models marked "
        "bundled or installed in the list"
    ),
    "no-file": "this saved model has no weights file; pick a model from the list",
}


def unavailable(weights: zoo.WeightSource, public: bool = False) -> str:
    """Why ``weights`` cannot load here and what to do, for a card, phrased from the
    record's fields (never from the wording of a message).

    Args:
        weights: A checked record that is not available.
        public: Phrase it for a public demo's visitors (:data:`VISITOR_WORDS`, by
            :attr:`~zoo.WeightSource.problem`); the operator's remedy goes to the log
            (:func:`operator_words`). Otherwise the person reading runs the server: the
            zoo's reason, then its remedy (``pip install …``), or for a Hub this server
            cannot reach, another model.
    """
    if public:
        return VISITOR_WORDS.get(weights.problem or "", weights.reason)
    remedy = weights.remedy if weights.problem != "unreachable" else ""
    remedy = remedy or _REMEDIES.get(weights.problem or "", "")
    return f"{weights.reason}; {remedy}" if remedy else weights.reason


def weights_problem(exc: zoo.WeightsUnavailableError) -> str:
    """The :attr:`zoo.WeightSource.problem` that ``exc`` reports: ``"unreachable"`` for a
    :class:`zoo.HubUnreachableError` (the Hub or a download host), else ``"no-weights"``."""
    return "unreachable" if isinstance(exc, zoo.HubUnreachableError) else "no-weights"


def operator_words(weights: zoo.WeightSource) -> str:
    """Why ``weights`` cannot load and the zoo's full remedy, for the server's log."""
    return f"{weights.reason}; {weights.remedy}" if weights.remedy else weights.reason


def one_line(text: str) -> str:
    """``text`` on one line (a log record per event)."""
    return " ".join(text.split())


def availability(name: str, task: str = "classification") -> tuple[bool, str]:
    """Whether pretrained weights for ``name`` can be loaded here, and where from / why not."""
    info = describe(name, task, remedy=False)
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
    ready.sort(key=lambda name: not zoo.model_info(name).weights.offline)
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
        """Build the model (no warm-up: its first run is timed as the cold run)."""
        start = time.perf_counter()
        model = zoo.create_model(info.name, pretrained=True).eval()
        return LoadedModel(
            name=info.name,
            model=model,
            params=info.params,
            input_size=info.input_size,
            weight_source=info.weight_source,
            load_seconds=time.perf_counter() - start,
            weights=weights_line(info),
        )
