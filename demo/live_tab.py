"""The Live tab: the webcam (or the example clip played as a stream) segmented frame by frame by
one or two models side by side, with the frames per second each sustains here.

The browser sends webcam frames through Gradio's own streaming (``gr.Image(streaming=True)``
and ``.stream``): one queued event per stream, offered a frame every :data:`STREAM_EVERY` s
once the last answer is back. Each chosen model runs :func:`zoo.segment_frames` on the
visitor's frames (one stream per visitor and model, with its own frame rate); a model slower than
:data:`MAX_LIVE_MS` per frame is stopped with a note pointing to the Segment and Video tabs.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np

import zoo

from . import backends, picker
from .cards import Card, Job, run_cards
from .examples import example_clip
from .models import LoadedModel, ModelCache, segmentation_choices
from .names import cut_echoes, name_html
from .policy import Policy
from .uploads import chosen_names

logger = logging.getLogger(__name__)
MAX_MODELS = 2
INFO = "One or two; the bundled person models keep up with a webcam on a CPU."
#: How often (seconds) the browser offers a webcam frame; it sends one only when the previous
#: answer is back, so this caps the rate at 40 frames/s and adds at most this wait per frame
#: (0.05 s held one person model at 16 frames/s, 0.025 s at 23; benchmarks/live.py).
STREAM_EVERY = 0.025
#: A model slower than this per frame (fewer than 4 frames/s) is stopped.
MAX_LIVE_MS = 250.0
#: Frames after the first a model runs before its median can stop it as too slow.
MIN_FRAMES_TO_STOP = 8
#: One warm frame this many times :data:`MAX_LIVE_MS` stops a model at once.
SLOW_FRAME_FACTOR = 4
#: The frames/s shown is over this many seconds of the latest frames.
FPS_WINDOW_S = 2.0
#: Frames wider than this are scaled down (by the browser's size, kept) before the models.
MAX_WIDTH = 1280
#: How long one stream may run before the next visitor's turn (seconds): a public server's,
#: and a local one's (one stream runs at a time; the next waits in the queue).
PUBLIC_SECONDS = 60
LOCAL_SECONDS = 600
#: Visitors whose stream state (each model's frame stream) a server keeps.
MAX_SESSIONS = 16
OPACITY = 0.5

HELP = f"""Press the camera's record button (allow the webcam), or **Play the example clip**.
Each chosen model segments every frame it is given, side by side, with the frames per second it
sustains on this machine's CPU. The person models bundled with vision-zoo keep up with a webcam;
a model slower than {MAX_LIVE_MS:.0f} ms per frame is stopped (try it in the Segment or Video
tab)."""


class FpsMeter:
    """Frames per second over the last :data:`FPS_WINDOW_S` seconds, and the median time per
    frame over the last 50 frames after the first (a cold run, kept apart)."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()
        self.times: deque[float] = deque(maxlen=50)
        self.first_ms: float | None = None
        self.frames = 0

    def add(self, ms: float, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self.frames += 1
        if self.first_ms is None:
            self.first_ms = ms
        else:
            self.times.append(ms)
        self.stamps.append(now)
        while self.stamps and now - self.stamps[0] > FPS_WINDOW_S:
            self.stamps.popleft()

    @property
    def fps(self) -> float:
        """Frames per second over the window (0.0 until two frames were seen)."""
        if len(self.stamps) < 2:
            return 0.0
        span = self.stamps[-1] - self.stamps[0]
        return (len(self.stamps) - 1) / span if span > 0 else 0.0

    @property
    def median_ms(self) -> float:
        """Median milliseconds per frame, the first frame left out (0.0 before the second)."""
        return float(np.median(self.times)) if self.times else 0.0


class _Latest:
    """The feed of one model's :func:`zoo.segment_frames` stream: each read yields the frame
    last :meth:`put`. The stream reads one frame per result (``batch_size=1``, never ahead),
    so every read follows a put; a read without one is a bug, said as such."""

    def __init__(self) -> None:
        self.frame: np.ndarray | None = None

    def put(self, frame: np.ndarray) -> None:
        self.frame = frame

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            if self.frame is None:
                raise RuntimeError("the live feed was read without a new frame")
            frame, self.frame = self.frame, None
            yield frame


@dataclass
class LiveModel:
    """One model on one visitor's stream."""

    loaded: LoadedModel
    backend: str
    feed: _Latest
    results: Iterator[zoo.SegmentationResult]
    meter: FpsMeter = field(default_factory=FpsMeter)
    stopped: str | None = None

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        """The overlay of ``frame`` (``(H, W, 3)`` uint8), timed into the meter; None when
        the model failed on it (logged with its traceback, and :attr:`stopped` says so).

        Raises:
            zoo.ZooError: The frame cannot be segmented (the zoo's message is the visitor's).
        """
        self.feed.put(frame)
        try:
            result = next(self.results)
        except zoo.ZooError:
            raise
        except (Exception, StopIteration) as exc:  # a bug or a broken backend: stop this model
            logger.exception("live stream of %s failed", self.loaded.name, exc_info=exc)
            self.stopped = f"stopped: it failed on a frame ({type(exc).__name__})"
            return None
        # not added to the model's recent runs: those are the photo tabs' (photo-sized) runs
        self.meter.add(result.latency_ms)
        warm = self.meter.times
        if warm and (
            warm[-1] > SLOW_FRAME_FACTOR * MAX_LIVE_MS
            or (len(warm) >= MIN_FRAMES_TO_STOP and self.meter.median_ms > MAX_LIVE_MS)
        ):
            ms = warm[-1] if len(warm) < MIN_FRAMES_TO_STOP else self.meter.median_ms
            self.stopped = (
                f"stopped: {ms:.0f} ms per frame here is too slow for live "
                f"(limit {MAX_LIVE_MS:.0f} ms); try it in the Segment or Video tab"
            )
        return np.asarray(result.overlay(OPACITY))


class LiveCard(Card[LiveModel]):
    """One model's place on the Live tab: its running stream, or why there is none."""


def start_stream(job: Job) -> tuple[LiveModel, None]:
    """A card run for :func:`demo.cards.run_cards`: the model's frame stream, not yet fed."""
    feed = _Latest()
    results = zoo.segment_frames(job.loaded.model, feed, backend=job.backend)
    return LiveModel(job.loaded, job.backend, feed, results), None


class Sessions:
    """Each visitor's models and their streams, kept for the latest :data:`MAX_SESSIONS`
    visitors; a visitor who changes the models or the backend gets new streams."""

    def __init__(self, cache: ModelCache, policy: Policy) -> None:
        self.cache, self.policy = cache, policy
        self._sessions: OrderedDict[str, tuple[tuple[Any, ...], list[LiveCard]]] = OrderedDict()
        self._lock = threading.Lock()

    def cards(self, key: str, names: list[str], backend: str) -> list[LiveCard]:
        settings = (tuple(names), backend)
        with self._lock:
            kept = self._sessions.get(key)
            if kept is not None and kept[0] == settings:
                self._sessions.move_to_end(key)
                return kept[1]
        cards = run_cards(LiveCard, "segmentation", start_stream, names, self.cache,
                          backend=backend, policy=self.policy)  # fmt: skip
        with self._lock:
            self._sessions[key] = (settings, cards)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return cards

    def forget(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)


def fit(frame: np.ndarray) -> np.ndarray:
    """``frame`` at most :data:`MAX_WIDTH` wide (its aspect kept)."""
    if frame.shape[1] <= MAX_WIDTH:
        return frame
    from PIL import Image

    height = round(frame.shape[0] * MAX_WIDTH / frame.shape[1])
    return np.asarray(Image.fromarray(frame).resize((MAX_WIDTH, height), Image.Resampling.BILINEAR))


def step_all(cards: list[LiveCard], frame: np.ndarray) -> list[Any]:
    """Per slot: the overlay (or None) and the line under it; then the stats as JSON."""
    views: list[Any] = []
    stats = []
    for i in range(MAX_MODELS):
        card = cards[i] if i < len(cards) else None
        if card is None:
            views += [None, ""]
            continue
        live = card.result
        if live is None or live.stopped:
            why = card.error if live is None else live.stopped
            views += [None, f"### {name_html(card.name)}\n**Unavailable:** {why}"]
            stats.append({"name": card.name, "ok": False, "error": why})
            continue
        try:
            image = live.step(frame)
        except zoo.ZooError as exc:
            live.stopped = cut_echoes(str(exc), card.name)
        if live.stopped:
            views += [None, f"### {name_html(card.name)}\n**Unavailable:** {live.stopped}"]
            stats.append({"name": card.name, "ok": False, "error": live.stopped})
            continue
        views += [image, line(card.name, live, frame.shape[1], frame.shape[0])]
        stats.append({
            "name": card.name, "ok": True, "fps": round(live.meter.fps, 2),
            "median_ms": round(live.meter.median_ms, 2), "frames": live.meter.frames,
            "backend": live.backend, "frame_size": [frame.shape[1], frame.shape[0]],
        })  # fmt: skip
    return [*views, {"results": stats}]


def line(name: str, live: LiveModel, width: int, height: int) -> str:
    """``"### name\n**17.2 frames/s** · 31 ms per frame (median of 50) · 640×480 · ONNX
    Runtime"``; on the first frame, its time (a cold run)."""
    meter, ran_on, name = live.meter, backends.label(live.backend), name_html(name)
    if not meter.times:
        return (f"### {name}\nfirst frame {meter.first_ms or 0:.0f} ms (a cold run) · "
                f"{width}×{height} · {ran_on}")  # fmt: skip
    return (
        f"### {name}\n**{meter.fps:.1f} frames/s** · {meter.median_ms:.0f} ms per frame "
        f"(median of {len(meter.times)}) · {width}×{height} · {ran_on}"
    )


def clip_frames(path: str, seconds: float) -> Iterator[np.ndarray]:
    """The clip's frames in real time: a frame is skipped when the models fall behind it, and
    waited for when they are ahead (as a camera would give them), for at most ``seconds``."""
    import av

    start = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base or 0)
        for frame in container.decode(stream):
            due = (frame.pts or 0) * base
            late = time.perf_counter() - start
            if late > seconds:
                return
            if due < late - 1.0 / float(stream.average_rate or 25):
                continue  # behind: drop it, as a live source would
            time.sleep(max(0.0, due - late))
            yield frame.to_ndarray(format="rgb24")


def build(cache: ModelCache, policy: Policy | None = None) -> None:
    """The tab's components and events (inside a ``gr.Tab``): ``/live_frame`` (the webcam
    stream) and ``/live_clip`` (the example clip as a stream)."""
    policy = policy or Policy()
    sessions = Sessions(cache, policy)
    choices, defaults = segmentation_choices(MAX_MODELS)
    clip = example_clip() if importlib.util.find_spec("av") is not None else None
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            camera = gr.Image(sources=["webcam"], streaming=True, type="numpy",
                              label="Webcam", elem_id="live-input")  # fmt: skip
            models = picker.models("live-", choices, defaults, MAX_MODELS, INFO)
            backend = backends.picker("live-backend")
            play = gr.Button("Play the example clip", elem_id="live-clip", visible=clip is not None)
        with gr.Column(scale=2):
            outputs: list[Any] = []
            with gr.Row(equal_height=True):
                for i in range(MAX_MODELS):
                    with gr.Column(min_width=280, elem_id=f"live-card-{i}"):
                        head = gr.Markdown(elem_id=f"live-head-{i}")
                        out = gr.Image(show_label=False, interactive=False, format="jpeg",
                                       elem_id=f"live-out-{i}")  # fmt: skip
                    outputs += [out, head]
            with gr.Accordion("Live figures (JSON)", open=False):
                raw = gr.JSON(label="per model", elem_id="live-json")

    def on_frame(
        frame: np.ndarray | None,
        names: list[str] | str | None,
        choice: str | None,
        request: gr.Request | None = None,
    ) -> list[Any]:
        if frame is None:
            return [gr.skip()] * (2 * MAX_MODELS + 1)
        try:
            chosen = chosen_names(names, MAX_MODELS, "segmentation model")
        except gr.Error as exc:  # said on the first card, not raised at every frame
            return [None, f"**{exc.message}**", *[None, ""] * (MAX_MODELS - 1), {}]
        key = getattr(request, "session_hash", None) or "local"
        cards = sessions.cards(key, chosen, backends.backend_value(choice))
        return step_all(cards, fit(np.ascontiguousarray(frame[..., :3])))

    def on_clip(
        names: list[str] | str | None, choice: str | None, request: gr.Request | None = None
    ) -> Iterator[list[Any]]:
        if clip is None:
            raise gr.Error("The example clip needs PyAV and scikit-image here.")
        chosen = chosen_names(names, MAX_MODELS, "segmentation model")
        key = f"clip:{getattr(request, 'session_hash', None) or 'local'}"
        sessions.forget(key)  # each play starts fresh streams (and fresh frame rates)
        cards = sessions.cards(key, chosen, backends.backend_value(choice))
        for frame in clip_frames(str(clip), PUBLIC_SECONDS):
            yield step_all(cards, frame)

    live: dict[str, Any] = {"concurrency_id": "live", "concurrency_limit": 1}
    camera.stream(
        picker.user_errors(on_frame, "live_frame", policy),
        inputs=[camera, models, backend],
        outputs=[*outputs, raw],
        api_name="live_frame",
        stream_every=STREAM_EVERY,
        time_limit=PUBLIC_SECONDS if policy.public else LOCAL_SECONDS,
        show_progress="hidden",
        **live,
    )
    play.click(picker.user_errors(on_clip, "live_clip", policy), inputs=[models, backend],
               outputs=[*outputs, raw],
               api_name="live_clip", show_progress="hidden", **live)  # fmt: skip
