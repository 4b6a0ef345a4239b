"""The Segment tab: one photo through up to four segmentation models, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from . import backends, picker
from .models import ModelCache, loading_progress, segmentation_choices
from .names import name_html, short_name
from .policy import Policy, SessionGuard
from .segmentation import (
    AGREEMENT_HEADERS,
    AGREEMENT_WIDTHS,
    SegCard,
    agreement,
    disagreement_map,
    legend,
    run_segmenters,
    summary,
    to_json,
)
from .uploads import chosen_names, opacity_value, uploaded_image

MAX_MODELS = 4
INFO = "Up to 4; or type a zoo name, local-dir:PATH or hf-hub:ORG/NAME."
#: How the reply's images are encoded: JPEG takes under 1 ms for a 512×512 overlay where
#: Gradio's default WebP takes about 20 (five images a request: ~100 ms of a ~380 ms request).
REPLY_FORMAT = "jpeg"

HELP = """Upload a photo (or pick an example), choose up to four segmentation models and press
**Segment**. Each card shows the model's overlay, the classes it found with their share of the
pixels, its latency, size and input resolution. Below: how much each pair of models agrees
(by class name), where they differ (red) and a slider to wipe between two overlays. Models
whose weights are not on this machine say so instead of guessing. A model you trained loads by
typing `local-dir:runs/NAME/best`."""


def _card(card: SegCard | None, alpha: float) -> list[Any]:
    hidden = [
        gr.Column(visible=False),
        gr.Markdown(value=""),
        gr.Image(value=None),
        gr.HighlightedText(value=None),
    ]
    if card is None:
        return hidden
    if not card.ok or card.result is None:
        return [
            gr.Column(visible=True),
            gr.Markdown(value=card.unavailable()),
            gr.Image(value=None, visible=False),
            gr.HighlightedText(value=None, visible=False),
        ]
    height, width = (card.input_size or (3, 0, 0))[1:]
    ran_h, ran_w = card.result.input_size
    timing = card.latency.label() if card.latency else f"{card.result.latency_ms:.0f} ms"
    head = (
        f"### {name_html(card.name)}\n**{timing}** on {backends.label(card.backend)} · "
        f"{(card.params or 0) / 1e6:.2f} M params · trained at {width}×{height}, "
        f"ran at {ran_w}×{ran_h} ({card.result.mode})  \n" + card.provenance()
    )
    entries, colours = legend(card.result)
    return [
        gr.Column(visible=True),
        gr.Markdown(value=head),
        gr.Image(value=card.result.overlay(alpha), visible=True),
        gr.HighlightedText(value=entries, color_map=colours, visible=True),
    ]


def _views(cards: list[SegCard], alpha: float) -> list[Any]:
    """The per-model cards and the wipe slider (first two results) at opacity ``alpha``."""
    updates: list[Any] = []
    for i in range(MAX_MODELS):
        updates += _card(cards[i] if i < len(cards) else None, alpha)
    ran = [c.result for c in cards if c.ok and c.result is not None]
    pair = (ran[0].overlay(alpha), ran[1].overlay(alpha)) if len(ran) >= 2 else None
    label = " ← | → ".join(short_name(c.name) for c in cards if c.ok) if pair else "Wipe"
    return [*updates, gr.ImageSlider(value=pair, label=label, visible=pair is not None)]


def build(
    cache: ModelCache,
    photos: list[Path],
    policy: Policy | None = None,
    guard: SessionGuard | None = None,
) -> None:
    """The tab's components and events (inside a ``gr.Tab``), loading what ``policy`` allows
    and running one job per visitor at a time under ``guard``."""
    policy = policy or Policy()
    guard = guard or SessionGuard(0)
    choices, defaults = segmentation_choices(MAX_MODELS)
    state = gr.State([])
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(
                label="Image", type="filepath", sources=["upload", "clipboard"], elem_id="seg-image"
            )
            models = picker.models("seg-", choices, defaults, MAX_MODELS, INFO)
            alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Mask opacity",
                              elem_id="seg-alpha")  # fmt: skip
            backend, run = picker.run_button("seg-", "Segment")
            examples = picker.photo_examples(photos, image)
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="seg-verdict")
            table = picker.results_table(
                AGREEMENT_HEADERS,
                AGREEMENT_WIDTHS,
                "Agreement between models (by class name)",
                "seg-agreement",
            )
            with gr.Row():
                slider = gr.ImageSlider(label="Wipe", visible=False, elem_id="seg-slider",
                                        format=REPLY_FORMAT)  # fmt: skip
                differ = gr.Image(label="Where the models disagree (red)",
                                  elem_id="seg-disagreement", format=REPLY_FORMAT)  # fmt: skip
    cards: list[Any] = []
    with gr.Row(equal_height=True):
        for i in range(MAX_MODELS):
            with gr.Column(visible=False, elem_id=f"seg-card-{i}", min_width=240) as column:
                head = gr.Markdown()
                overlay = gr.Image(show_label=False, elem_classes=["seg-overlay"],
                                   format=REPLY_FORMAT)  # fmt: skip
                shares = gr.HighlightedText(
                    show_label=False, show_inline_category=False, elem_classes=["seg-legend"]
                )
            cards += [column, head, overlay, shares]
    with gr.Accordion("Raw results (JSON)", open=False):
        raw = gr.JSON(label="results")

    def on_segment(
        payload: Any,
        names: list[str] | str | None,
        opacity: float,
        choice: str | None = None,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        names = chosen_names(names, MAX_MODELS, "segmentation model")
        ran_on = backends.backend_value(choice)
        opacity = opacity_value(opacity)
        pil = uploaded_image(payload)
        on_load = loading_progress(progress)

        with guard.run(request):
            results = run_segmenters(pil, names, cache, on_load, ran_on, policy)
        rows = agreement(results)
        return [
            results,
            to_json(results, rows),
            summary(results, rows),
            rows,
            disagreement_map(results),
            *_views(results, float(opacity)),
        ]

    def on_opacity(results: list[SegCard], opacity: float) -> list[Any]:
        return _views(results or [], float(opacity))

    outputs = [state, raw, verdict, table, differ, *cards, slider]
    inputs = [image, models, alpha, backend]
    picker.wire(on_segment, run, inputs, outputs, "segment", policy, examples)
    alpha.release(
        on_opacity,
        inputs=[state, alpha],
        outputs=[*cards, slider],
        api_visibility="private",
        concurrency_limit=1,
    )
