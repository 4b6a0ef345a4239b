"""The Gradio app: upload a photo, compare classifiers side by side."""

from __future__ import annotations

from typing import Any

import gradio as gr

import zoo

from . import backends, segment_tab, video_tab
from .compare import TABLE_HEADERS, CardResult, compare, summary, table, to_json
from .examples import PHOTOS, example_photos
from .models import (
    DEFAULT_MODELS,
    SUGGESTED_MODELS,
    ModelCache,
    availability,
    choice_label,
    loading_progress,
    segmentation_models,
)
from .policy import Policy, SessionGuard, guard_for
from .uploads import chosen_names, uploaded_image

MAX_MODELS = 4
MAX_FILE_SIZE = "20mb"

INTRO = """# vision-zoo · compare models side by side
**Classify**: up to four ImageNet classifiers on one photo (top-5, latency, size).
**Segment**: up to four segmentation models on one photo: overlays, the classes each finds, how
much they agree and where they differ. **Video**: a short clip through one or two segmentation
models. Any zoo name can be typed into a picker, and so can a model you trained or pushed:
`local-dir:runs/NAME/best`, `hf-hub:org/name`. Latencies are measured on this machine's CPU.
"""


def _choice_label(name: str) -> str:
    return choice_label(name, *availability(name))


def _card_updates(result: CardResult | None) -> list[Any]:
    if result is None:
        return [gr.Column(visible=False), gr.Markdown(value=""), gr.Label(value=None)]
    if not result.ok:
        head = f"### {result.name}\n**Unavailable:** {result.error}"
        return [
            gr.Column(visible=True),
            gr.Markdown(value=head),
            gr.Label(value=None, visible=False),
        ]
    height, width = (result.input_size or (3, 0, 0))[1:]
    latency = result.latency
    timing = latency.label() if latency else f"{result.latency_ms or 0:.0f} ms"
    head = (
        f"### {result.name}\n**{timing}** per image on {backends.label(result.backend)} · "
        f"{(result.params or 0) / 1e6:.2f} M params · input {width}×{height}  \n"
        f"{result.weights or 'Weights: ' + str(result.weight_source)}"
        + (f"  \n*{result.note}*" if result.note else "")
    )
    scores = dict(result.top)
    return [gr.Column(visible=True), gr.Markdown(value=head), gr.Label(value=scores, visible=True)]


def build_demo(cache: ModelCache | None = None, public: bool | None = None) -> gr.Blocks:
    """Build the app: Classify, Segment and Video tabs (queued: one run at a time per tab,
    32 waiting at most; in public mode see :mod:`demo.policy`).

    Args:
        cache: Loaded-model cache to share (default: a new one).
        public: Public mode on or off (None: from the environment, see
            :meth:`demo.policy.Policy.from_env`).

    Returns:
        The ``gr.Blocks`` app; launch it with :func:`launch_kwargs`.

    Raises:
        demo.policy.PolicyError: A public-mode environment variable that cannot be used.
    """
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
    with gr.Blocks(title="vision-zoo · compare models") as demo:
        gr.Markdown(INTRO)
        mode = f" {PUBLIC_NOTE}" if policy.public else ""
        gr.Markdown(f"Hugging Face Hub: {hub}.{mode}", elem_id="hub-status")
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                _classify_tab(cache, photos, policy, guard)
            with gr.Tab("Segment", id="segment"):
                segment_tab.build(cache, photos, policy, guard)
            with gr.Tab("Video", id="video"):
                video_tab.build(cache, policy, guard)
    demo.queue(**policy.queue_kwargs())
    return demo


PUBLIC_NOTE = (
    "This is a public demo: it loads the listed models, and Hub repositories up to a size "
    "limit; one run at a time per visitor."
)


def _classify_tab(
    cache: ModelCache, photos: list[Any], policy: Policy, guard: SessionGuard
) -> None:
    choices = [(_choice_label(n), n) for n in DEFAULT_MODELS + SUGGESTED_MODELS]
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(
                label="Image",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="input-image",
            )
            models = gr.Dropdown(
                choices=choices,
                value=list(DEFAULT_MODELS),
                multiselect=True,
                allow_custom_value=True,
                max_choices=MAX_MODELS,
                label="Models",
                info="Pick up to 4, or type any timm/zoo classifier name.",
                elem_id="models",
            )
            backend = backends.picker("backend")
            run = gr.Button("Compare", variant="primary", elem_id="run")
            examples = None
            if photos:
                examples = gr.Examples(
                    examples=[[str(p)] for p in photos], inputs=[image], label="Example photos"
                )
                credits = "; ".join(credit for _, credit in PHOTOS.values())
                gr.Markdown(f"<small>Example photos: {credits}.</small>")
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="verdict")
            comparison = gr.Dataframe(
                headers=TABLE_HEADERS,
                interactive=False,
                label="Comparison",
                elem_id="comparison",
            )
            card_outputs: list[Any] = []
            with gr.Row(equal_height=True):
                for i in range(MAX_MODELS):
                    with gr.Column(
                        visible=False,
                        elem_id=f"card-{i}",
                        elem_classes=["model-card"],
                        min_width=220,
                    ) as column:
                        head = gr.Markdown(elem_classes=["card-head"])
                        label = gr.Label(
                            num_top_classes=5, show_label=False, elem_classes=["card-label"]
                        )
                    card_outputs += [column, head, label]
            with gr.Accordion("Raw results (JSON)", open=False):
                raw = gr.JSON(label="results")

    def on_compare(
        payload: Any,
        names: list[str] | str | None,
        choice: str | None = None,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        names = chosen_names(names, MAX_MODELS)
        ran_on = backends.backend_value(choice)
        pil = uploaded_image(payload)
        on_load = loading_progress(progress)

        with guard.run(request):
            results = compare(pil, names, cache, on_load, ran_on, policy)
        updates = [to_json(results), summary(results), table(results)]
        for i in range(MAX_MODELS):
            updates += _card_updates(results[i] if i < len(results) else None)
        return updates

    outputs = [raw, verdict, comparison, *card_outputs]
    run.click(
        on_compare,
        inputs=[image, models, backend],
        outputs=outputs,
        api_name="compare",
        preprocess=False,
        **policy.event_kwargs(),
    )
    if examples is not None:  # an example runs on click, with the models and backend chosen
        examples.load_input_event.then(
            on_compare,
            inputs=[image, models, backend],
            outputs=outputs,
            preprocess=False,
            api_visibility="private",
            **policy.event_kwargs(),
        )


def launch_kwargs() -> dict[str, Any]:
    """Arguments for ``demo.launch``: the upload size limit (host/port from Gradio's env vars)."""
    return {"max_file_size": MAX_FILE_SIZE}
