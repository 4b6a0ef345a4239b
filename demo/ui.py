"""The Gradio app: upload a photo, compare classifiers side by side."""

from __future__ import annotations

from typing import Any

import gradio as gr

import zoo

from .compare import TABLE_HEADERS, CardResult, compare, summary, table, to_json
from .examples import PHOTOS, example_photos
from .models import DEFAULT_MODELS, SUGGESTED_MODELS, ModelCache, availability

MAX_MODELS = 4
MAX_FILE_SIZE = "20mb"

INTRO = """# vision-zoo · compare image classifiers
Upload a photo (or pick an example), choose up to four ImageNet classifiers and press **Compare**.
Each card shows a model's top-5 classes, its latency per image (preprocessing + forward pass) on
this machine's CPU, its size and input resolution. Any timm or zoo classifier name can be typed
into the picker, and so can a model you trained or pushed: `local-dir:runs/NAME/best`,
`hf-hub:org/name`.
"""


def _choice_label(name: str) -> str:
    ok, reason = availability(name)
    return f"{name} — {reason}" if ok else f"{name} — unavailable: {reason}"


def _image_path(payload: Any) -> str:
    """The server-side path of an upload (the event runs with ``preprocess=False``)."""
    if payload is None:
        raise gr.Error("Upload an image (or click an example photo) first.")
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", payload)
    if not isinstance(path, str) or not path:
        raise gr.Error("The upload did not arrive as a file; try uploading it again.")
    return path


def _card_updates(result: CardResult | None) -> list[Any]:
    if result is None:
        return [gr.Column(visible=False), gr.Markdown(value=""), gr.Label(value=None)]
    if not result.ok:
        head = f"### {result.name}\n**Unavailable.** {result.error}"
        return [
            gr.Column(visible=True),
            gr.Markdown(value=head),
            gr.Label(value=None, visible=False),
        ]
    height, width = (result.input_size or (3, 0, 0))[1:]
    head = (
        f"### {result.name}\n**{result.latency_ms:.1f} ms** per image · "
        f"{(result.params or 0) / 1e6:.2f} M params · input {width}×{height}  \n"
        f"weights: {result.weight_source}"
    )
    scores = dict(result.top)
    return [gr.Column(visible=True), gr.Markdown(value=head), gr.Label(value=scores, visible=True)]


def build_demo(cache: ModelCache | None = None) -> gr.Blocks:
    """Build the comparison app (queued: one comparison at a time, 32 waiting at most).

    Args:
        cache: Loaded-model cache to share (default: a new one).

    Returns:
        The ``gr.Blocks`` app; launch it with :func:`launch_kwargs`.
    """
    cache = cache or ModelCache()
    hub = (
        "reachable"
        if zoo.hub_reachable()
        else "unreachable — only installed or cached weights load"
    )
    choices = [(_choice_label(n), n) for n in DEFAULT_MODELS + SUGGESTED_MODELS]
    photos = example_photos()

    with gr.Blocks(title="vision-zoo · compare classifiers") as demo:
        gr.Markdown(INTRO)
        gr.Markdown(f"Hugging Face Hub: {hub}.", elem_id="hub-status")
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
                run = gr.Button("Compare", variant="primary", elem_id="run")
                if photos:
                    gr.Examples(
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
            payload: Any, names: list[str] | str | None, progress: gr.Progress = gr.Progress()
        ) -> list[Any]:
            names = [names] if isinstance(names, str) else list(names or [])
            names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
            if not names:
                raise gr.Error("Choose at least one model.")
            if len(names) > MAX_MODELS:
                raise gr.Error(f"Choose at most {MAX_MODELS} models (got {len(names)}).")
            try:
                pil = zoo.load_image(_image_path(payload))
            except zoo.InvalidImageError as exc:
                raise gr.Error(str(exc)) from exc

            def on_load(name: str) -> None:
                progress(None, desc=f"Loading {name} (first use; later runs reuse it)…")

            results = compare(pil, names, cache, on_load)
            updates = [to_json(results), summary(results), table(results)]
            for i in range(MAX_MODELS):
                updates += _card_updates(results[i] if i < len(results) else None)
            return updates

        run.click(
            on_compare,
            inputs=[image, models],
            outputs=[raw, verdict, comparison, *card_outputs],
            api_name="compare",
            preprocess=False,
            concurrency_limit=1,
        )
    demo.queue(default_concurrency_limit=1, max_size=32)
    return demo


def launch_kwargs() -> dict[str, Any]:
    """Arguments for ``demo.launch``: the upload size limit (host/port from Gradio's env vars)."""
    return {"max_file_size": MAX_FILE_SIZE}
