"""The Video tab: a short clip through one or two segmentation models, overlays side by side.

Each model's overlay is written by :func:`zoo.segment_video` (H.264 MP4, the source's frame
rate and frame count) into a per-run folder under the temp dir; Gradio copies it into its cache
and serves it from there, so a server removes its run folders after :data:`KEEP_OUTPUTS_S`.
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

import zoo

from . import backends, picker
from .cards import Card, Job, run_cards
from .examples import CLIP_CREDIT, example_clip
from .models import ModelCache, loading_progress, segmentation_choices
from .names import name_html
from .policy import Policy, SessionGuard
from .uploads import chosen_names, opacity_value, upload_path

MAX_MODELS = 2
INFO = "Up to 2; or type a zoo name, local-dir:PATH or hf-hub:ORG/NAME."
#: Longer clips are cut here, with a notice.
MAX_SECONDS = 20.0
#: Frames beyond Full HD (either orientation) are refused.
MAX_FRAME = (1920, 1080)
#: Where the overlays are written (one folder per run), and how long a run's folder is kept.
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "vision-zoo-video"
KEEP_OUTPUTS_S = 3600.0
#: Run folders a server keeps (each holds an open lock file): beyond this many, the oldest go
#: once they are :data:`MIN_KEEP_S` old.
MAX_RUN_FOLDERS = 64
MIN_KEEP_S = 600.0
FORMATS = "MP4, WebM, MOV, MKV or AVI"

HELP = f"""Upload a short clip (or pick the example), choose one or two segmentation models and
press **Segment video**. Each model's overlay plays side by side, with the frames, frame rate,
how fast this machine's CPU processed them (frames/s and milliseconds per frame) and the model's
size. Clips longer than {MAX_SECONDS:.0f} s are cut at {MAX_SECONDS:.0f} s; frames larger than
{MAX_FRAME[0]}×{MAX_FRAME[1]} are refused. Models whose weights are not on this machine say so
instead of guessing."""


@dataclass(frozen=True)
class Clip:
    """What the upload is, read from its container before any model runs."""

    name: str
    width: int
    height: int
    fps: float
    seconds: float | None


class VideoCard(Card[zoo.VideoResult]):
    """One model's outcome on the clip: its overlay video, or why there is none."""


def probe(path: str) -> Clip:
    """Read the clip's frame size, frame rate and length, and decode its first frame.

    Raises:
        zoo.InvalidVideoError: Not a video (a still image, text, a broken file), or frames
            larger than :data:`MAX_FRAME`. Messages name the upload, never the server path.
        zoo.MissingExtraError: PyAV is not installed.
    """
    name = Path(path).name
    try:
        import av
    except ImportError as exc:
        raise zoo.MissingExtraError(
            "The Video tab needs PyAV: pip install 'vision-zoo[demo]'"
        ) from exc
    not_video = f"{name} is not a video this server can decode; expected {FORMATS}"
    try:
        container = av.open(path)
    except av.error.EOFError:
        raise zoo.InvalidVideoError(f"{name} has no video frames.") from None
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise zoo.InvalidVideoError(f"{not_video} ({reason}).") from exc
    with container:
        still = container.format.name == "image2" or container.format.name.endswith("_pipe")
        if still or not container.streams.video:
            what = "a still image" if still else "a file without a video stream"
            raise zoo.InvalidVideoError(
                f"{name} is not a video ({what}); expected {FORMATS}. "
                "Segment photos in the Segment tab."
            )
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if max(width, height) > MAX_FRAME[0] or min(width, height) > MAX_FRAME[1]:
            raise zoo.InvalidVideoError(
                f"{name} has frames of {width}×{height}; the limit here is "
                f"{MAX_FRAME[0]}×{MAX_FRAME[1]} (either orientation). Scale it down first, "
                "e.g. ffmpeg -i in.mp4 -vf scale=1280:-2 out.mp4"
            )
        try:
            next(container.decode(stream))
        except (StopIteration, av.error.EOFError):
            raise zoo.InvalidVideoError(f"{name} has no video frames.") from None
        except av.error.FFmpegError as exc:
            raise zoo.InvalidVideoError(f"{not_video} ({exc.strerror}).") from exc
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration and stream.time_base:
            seconds: float | None = float(stream.duration * stream.time_base)
        elif container.duration:
            seconds = container.duration / av.time_base
        else:
            seconds = None
    return Clip(name, width, height, fps, seconds)


def _public(message: str, path: str) -> str:
    """A zoo error message with the server's temp path replaced by the upload's name."""
    return message.replace(path, Path(path).name)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "model"


def _run_folder() -> Path:
    """A fresh folder for this run's overlays: a locked :class:`zoo.Temporary` folder under
    :data:`OUTPUT_ROOT`, never committed. This process removes its own after
    :data:`KEEP_OUTPUTS_S` (or, beyond :data:`MAX_RUN_FOLDERS`, after :data:`MIN_KEEP_S`;
    Gradio has copied the videos into its cache long before); a stopped server's folders go
    at the next server's first run, when zoo's clean-up can prove them abandoned. Nothing else
    under the root is touched."""
    now = time.monotonic()
    with _RUNS_LOCK:
        while _RUNS and (
            now - _RUNS[0][0] > KEEP_OUTPUTS_S
            or (len(_RUNS) >= MAX_RUN_FOLDERS and now - _RUNS[0][0] > MIN_KEEP_S)
        ):  # never a folder a run may still be writing (runs are cut at MAX_SECONDS of video)
            _RUNS.popleft()[1].discard()
        run = zoo.Temporary(OUTPUT_ROOT / "run", directory=True)
        _RUNS.append((now, run))
    return run.path


_RUNS: deque[tuple[float, zoo.Temporary]] = deque()  # this process's run folders, oldest first
_RUNS_LOCK = threading.Lock()


def run_models(
    path: str,
    names: list[str],
    cache: ModelCache,
    folder: Path,
    alpha: float,
    on_load: Callable[[str], None] | None = None,
    backend: str = "pytorch",
    policy: Policy | None = None,
) -> list[VideoCard]:
    """Segment the clip at ``path`` with each model in ``names`` into ``folder``, on
    ``backend`` (see :mod:`demo.backends`); a model that cannot load, has no weights here or
    is refused by ``policy`` gets a card that says why (never random-weight output).

    Raises:
        zoo.InvalidVideoError: The clip itself cannot be decoded (not one model's fault).
    """

    def run(job: Job) -> tuple[zoo.VideoResult, None]:
        result = zoo.segment_video(
            job.loaded.model,
            path,
            folder / f"{job.index}-{_slug(job.loaded.name)}.mp4",
            alpha=alpha,
            max_seconds=MAX_SECONDS,
            progress=True,  # gr.Progress(track_tqdm=True) shows this bar
            backend=job.backend,
        )
        return result, None

    return run_cards(
        VideoCard,
        "segmentation",
        run,
        names,
        cache,
        on_load=on_load,
        backend=backend,
        policy=policy,
        fatal=(zoo.InvalidVideoError,),
    )


def mean_shares(result: zoo.VideoResult) -> dict[str, float]:
    """Each class's share of the pixels, averaged over the frames, largest first."""
    totals: dict[str, float] = {}
    for shares in result.class_shares:
        for label, share in shares.items():
            totals[label] = totals.get(label, 0.0) + share
    count = max(len(result.class_shares), 1)
    return dict(sorted(((k, v / count) for k, v in totals.items()), key=lambda kv: -kv[1]))


def card_line(card: VideoCard) -> str:
    """The Markdown above a model's video: frames, fps, speed and size, or why it did not run."""
    if not card.ok or card.result is None:
        return card.unavailable()
    result = card.result
    classes = ", ".join(f"*{k}* {v:.0%}" for k, v in list(mean_shares(result).items())[:3])
    return (
        f"### {name_html(card.name)}\n{result.frames} frames at {result.fps:.3g} fps · "
        f"**{result.processing_fps:.1f} frames/s** processed, all stages · "
        f"{frame_times(result)} ({backends.label(card.backend)}) · "
        f"{(card.params or 0) / 1e6:.2f} M params  \n"
        f"classes: {classes}  \n{card.provenance()}"
    )


def frame_times(result: zoo.VideoResult) -> str:
    """The model's time per frame: the median over the frames it ran on, and the first
    frame's apart (a cold run: caches, ONNX Runtime's first call)."""
    if not result.frame_ms:
        return "no frame ran"
    ran = len(result.frame_ms)
    return (
        f"model **{result.median_frame_ms:.0f} ms** per frame (median of {ran}), "
        f"first frame {result.frame_ms[0]:.0f} ms"
    )


def notice(clip: Clip, cards: list[VideoCard]) -> str:
    """The line above the videos: what the clip is, and whether it was cut."""
    length = f"{clip.seconds:.1f} s" if clip.seconds is not None else "unknown length"
    text = f"**{clip.name}**: {clip.width}×{clip.height}, {clip.fps:.3g} fps, {length}."
    done = [c.result for c in cards if c.result is not None]
    if any(r.truncated for r in done):
        frames = max(r.frames for r in done)
        text += (
            f"  \n⚠️ **Cut:** only the first {MAX_SECONDS:.0f} s ({frames} frames) were "
            f"segmented; clips are limited to {MAX_SECONDS:.0f} s here."
        )
    return text


def to_json(clip: Clip, cards: list[VideoCard]) -> dict[str, Any]:
    """The run as plain JSON (what the API endpoint returns besides the videos)."""
    items = []
    for card in cards:
        item = card.json_head()
        if card.result is not None:
            result = card.result
            item.update(
                frames=result.frames,
                fps=result.fps,
                size=list(result.size),
                truncated=result.truncated,
                processing_fps=round(result.processing_fps, 2),
                ms_per_frame=round(1000 * result.seconds["total"] / max(result.frames, 1), 2),
                median_frame_ms=round(result.median_frame_ms, 2),
                first_frame_ms=round(result.frame_ms[0], 2) if result.frame_ms else None,
                seconds={k: round(v, 4) for k, v in result.seconds.items()},
                params=card.params,
                weight_source=card.weight_source,
                weights=card.weights,
                backend=card.backend,
                note=card.note,
                class_shares={k: round(v, 5) for k, v in mean_shares(result).items()},
            )
        items.append(item)
    source = {
        "name": clip.name,
        "width": clip.width,
        "height": clip.height,
        "fps": clip.fps,
        "seconds": clip.seconds,
    }
    return {"input": source, "max_seconds": MAX_SECONDS, "results": items}


def _views(cards: list[VideoCard]) -> list[Any]:
    """Per slot: the card's visibility, its line, the video's visibility and the video. The
    line and the video are plain values (an API client gets a string and a downloaded file)."""
    updates: list[Any] = []
    for i in range(MAX_MODELS):
        card = cards[i] if i < len(cards) else None
        path = (
            str(card.result.path)
            if card is not None and card.ok and card.result is not None and card.result.path
            else None
        )
        updates += [
            gr.Column(visible=card is not None),
            card_line(card) if card is not None else "",
            gr.Column(visible=path is not None),
            path,
        ]
    return updates


def _video_path(payload: Any) -> str:
    """The server-side path of an upload (the event runs with ``preprocess=False``)."""
    if payload is None:
        raise gr.Error("Upload a video (or click the example clip) first.")
    if isinstance(payload, dict) and isinstance(payload.get("video"), dict):
        payload = payload["video"]  # the {"video": ..., "subtitles": ...} shape of Gradio 4/5
    return upload_path(payload, "a video")


def build(
    cache: ModelCache, policy: Policy | None = None, guard: SessionGuard | None = None
) -> None:
    """The tab's components and events (inside a ``gr.Tab``); registers ``/segment_video``.
    Loads what ``policy`` allows, one job per visitor at a time under ``guard``."""
    policy = policy or Policy()
    guard = guard or SessionGuard(0)
    if importlib.util.find_spec("av") is None:
        gr.Markdown("The Video tab needs PyAV: `pip install 'vision-zoo[demo]'`.")
        return
    choices, defaults = segmentation_choices(MAX_MODELS)
    clip = example_clip()
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            video = gr.Video(label="Clip", sources=["upload"], elem_id="video-input")
            models = picker.models("video-", choices, defaults, MAX_MODELS, INFO)
            alpha = gr.Slider(
                0.0, 1.0, value=0.5, step=0.05, label="Mask opacity", elem_id="video-alpha"
            )
            backend, run = picker.run_button("video-", "Segment video")
            examples = None
            if clip is not None:
                examples = gr.Examples(
                    examples=[[str(clip)]],
                    inputs=[video],
                    label="Example clip",
                    elem_id="video-examples",
                )
                gr.Markdown(f"<small>Example clip: {CLIP_CREDIT}.</small>")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="video-notice")
            outputs: list[Any] = []
            with gr.Row(equal_height=True):
                for i in range(MAX_MODELS):
                    with gr.Column(visible=False, elem_id=f"video-card-{i}", min_width=280) as col:
                        head = gr.Markdown(elem_classes=["video-card-head"])
                        with gr.Column(visible=False) as holder:
                            out = gr.Video(
                                show_label=False,
                                interactive=False,
                                loop=True,
                                elem_id=f"video-out-{i}",
                            )
                    outputs += [col, head, holder, out]
            with gr.Accordion("Raw results (JSON)", open=False):
                raw = gr.JSON(label="results")

    def on_segment_video(
        payload: Any,
        names: list[str] | str | None,
        opacity: float | None,
        choice: str | None = None,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),
    ) -> list[Any]:
        names = chosen_names(names, MAX_MODELS, "segmentation model")
        ran_on = backends.backend_value(choice)
        alpha_value = opacity_value(opacity)
        path = _video_path(payload)
        try:
            clip = probe(path)
        except zoo.ZooError as exc:
            raise gr.Error(str(exc)) from exc

        on_load = loading_progress(progress)

        try:
            with guard.run(request):
                cards = run_models(
                    path, names, cache, _run_folder(), alpha_value, on_load, ran_on, policy
                )
        except zoo.InvalidVideoError as exc:
            raise gr.Error(policy.public_text(_public(str(exc), path))) from exc
        if any(c.result is not None and c.result.truncated for c in cards):
            gr.Warning(f"The clip is longer than {MAX_SECONDS:.0f} s; only its start was used.")
        return [to_json(clip, cards), notice(clip, cards), *_views(cards)]

    inputs = [video, models, alpha, backend]
    picker.wire(on_segment_video, run, inputs, [raw, status, *outputs], "segment_video", policy,
                examples)  # fmt: skip
