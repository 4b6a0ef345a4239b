"""The Gradio app's shell: the intro, the Hub's status, the tabs (each in its own module:
:mod:`demo.classify_tab`, :mod:`demo.segment_tab`, :mod:`demo.video_tab`,
:mod:`demo.live_tab`, :mod:`demo.evaluate_tab`) and the queue."""

from __future__ import annotations

from typing import Any

import gradio as gr

import zoo

from . import classify_tab, evaluate_tab, gradio_cache, live_tab, segment_tab, video_tab
from .examples import example_photos
from .models import DEFAULT_MODELS, SUGGESTED_MODELS, ModelCache, segmentation_models
from .policy import Policy, guard_for
from .warmup import Warmup

MAX_FILE_SIZE = "20mb"
#: Gradio's ``delete_cache``: every 2 minutes, the uploads and outputs older than 10 minutes
#: go. Each Live frame is an upload and one output image per model (about 40 KB each), so a
#: stream adds about 2–3 MB/s; without this the cache would fill the disk.
CACHE_CLEANUP = (120, 600)

INTRO = """# vision-zoo · compare models side by side
**Classify**: up to four ImageNet classifiers on one photo (top-5, latency, size).
**Segment**: up to four segmentation models on one photo: overlays, the classes each finds, how
much they agree and where they differ. **Video**: a short clip through one or two segmentation
models. **Live**: your webcam segmented frame by frame, with the frames per second each model
keeps up here. **Evaluate**: which model is right on *your* labelled images: a leaderboard,
the worst examples and accuracy against latency. Any zoo name can be typed into a picker, and
so can a model you trained or pushed: `local-dir:runs/NAME/best`, `hf-hub:org/name`.
Latencies are measured on this machine's CPU.
"""

PUBLIC_NOTE = (
    "This is a public demo: it loads the listed models, and Hub repositories up to a size "
    "limit; one run at a time per visitor."
)


def build_demo(
    cache: ModelCache | None = None, public: bool | None = None, warmup: Warmup | None = None
) -> gr.Blocks:
    """Build the app: Classify, Segment, Video, Live and Evaluate tabs (queued: one run at a
    time per tab, 64 waiting at most; in public mode see :mod:`demo.policy`).

    Args:
        cache: Loaded-model cache to share (default: a new one).
        public: Public mode on or off (None: from the environment, see
            :meth:`demo.policy.Policy.from_env`).
        warmup: A started :class:`demo.warmup.Warmup` on ``cache``: the page says how far it
            is until it is done.

    Returns:
        The ``gr.Blocks`` app; launch it with :func:`launch_kwargs`.

    Raises:
        demo.policy.PolicyError: A public-mode environment variable that cannot be used.
    """
    gradio_cache.install()
    cache = cache or ModelCache()
    curated = [*DEFAULT_MODELS, *SUGGESTED_MODELS, *segmentation_models()]
    policy = Policy.from_env(public).with_curated(curated)
    guard = guard_for(policy)
    hub = (
        "reachable"
        if zoo.hub_reachable()
        else "unreachable — only bundled, installed or cached weights load"
    )
    photos = example_photos()
    with gr.Blocks(title="vision-zoo · compare models", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO)
        mode = f" {PUBLIC_NOTE}" if policy.public else ""
        gr.Markdown(f"Hugging Face Hub: {hub}.{mode}", elem_id="hub-status")
        if warmup is not None:
            _warmup_status(demo, warmup)
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                classify_tab.build(cache, photos, policy, guard)
            with gr.Tab("Segment", id="segment"):
                segment_tab.build(cache, photos, policy, guard)
            with gr.Tab("Video", id="video"):
                video_tab.build(cache, policy, guard)
            with gr.Tab("Live", id="live"):
                live_tab.build(cache, policy)
            with gr.Tab("Evaluate", id="evaluate"):
                evaluate_tab.build(cache, policy, guard)
    demo.queue(**policy.queue_kwargs())
    return demo


def _warmup_status(demo: gr.Blocks, warmup: Warmup) -> None:
    """A line that says how far the warm-up is, shown on load and refreshed every second
    until the warm-up is done."""
    status = gr.Markdown(warmup.status(), elem_id="warmup-status")
    timer = gr.Timer(1.0, active=not warmup.ready.is_set())

    def refresh() -> list[Any]:
        return [warmup.status(), gr.Timer(active=not warmup.ready.is_set())]

    events: dict[str, Any] = dict(outputs=[status, timer], api_visibility="private", queue=False)
    timer.tick(refresh, **events)
    demo.load(refresh, **events)


def launch_kwargs() -> dict[str, Any]:
    """Arguments for ``demo.launch``: the upload size limit (host/port from Gradio's env vars)."""
    return {"max_file_size": MAX_FILE_SIZE}
