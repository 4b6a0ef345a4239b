"""The Classify tab: one photo through up to four ImageNet classifiers, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from . import backends, picker
from .compare import TABLE_HEADERS, TABLE_WIDTHS, CardResult, compare, summary, table, to_json
from .examples import PHOTOS
from .models import (
    DEFAULT_MODELS,
    SUGGESTED_MODELS,
    ModelCache,
    availability,
    choice_label,
    loading_progress,
)
from .names import name_html
from .policy import Policy, SessionGuard
from .uploads import chosen_names, uploaded_image

MAX_MODELS = 4


def _choice_label(name: str) -> str:
    return choice_label(name, *availability(name))


def _card_updates(result: CardResult | None) -> list[Any]:
    """One card's column, heading and top-5 label (hidden without a result)."""
    if result is None:
        return [gr.Column(visible=False), gr.Markdown(value=""), gr.Label(value=None)]
    if not result.ok:
        return [
            gr.Column(visible=True),
            gr.Markdown(value=result.unavailable()),
            gr.Label(value=None, visible=False),
        ]
    height, width = (result.input_size or (3, 0, 0))[1:]
    latency = result.latency
    timing = latency.label() if latency else f"{result.latency_ms or 0:.0f} ms"
    head = (
        f"### {name_html(result.name)}\n"
        f"**{timing}** per image on {backends.label(result.backend)} · "
        f"{(result.params or 0) / 1e6:.2f} M params · input {width}×{height}  \n"
        + result.provenance()
    )
    scores = dict(result.top)
    return [gr.Column(visible=True), gr.Markdown(value=head), gr.Label(value=scores, visible=True)]


def _cards() -> list[Any]:
    """The per-model cards (column, heading, top-5 label), hidden until a run fills them."""
    outputs: list[Any] = []
    with gr.Row(equal_height=True):
        for i in range(MAX_MODELS):
            with gr.Column(
                visible=False, elem_id=f"card-{i}", elem_classes=["model-card"], min_width=220
            ) as column:
                head = gr.Markdown(elem_classes=["card-head"])
                label = gr.Label(num_top_classes=5, show_label=False, elem_classes=["card-label"])
            outputs += [column, head, label]
    return outputs


def build(
    cache: ModelCache,
    photos: list[Path],
    policy: Policy | None = None,
    guard: SessionGuard | None = None,
) -> None:
    """The tab's components and events (inside a ``gr.Tab``); registers ``/compare``.
    Loads what ``policy`` allows, one job per visitor at a time under ``guard``."""
    policy = policy or Policy()
    guard = guard or SessionGuard(0)
    choices = [(_choice_label(n), n) for n in DEFAULT_MODELS + SUGGESTED_MODELS]
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(
                label="Image",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="input-image",
            )
            info = "Pick up to 4, or type any timm/zoo classifier name."
            models = picker.models("", choices, list(DEFAULT_MODELS), MAX_MODELS, info)
            backend, run = picker.run_button("", "Compare")
            examples = picker.photo_examples(photos, image)
            if examples is not None:
                credits = "; ".join(credit for _, credit in PHOTOS.values())
                gr.Markdown(f"<small>Example photos: {credits}.</small>")
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="verdict")
            comparison = picker.results_table(
                TABLE_HEADERS, TABLE_WIDTHS, "Comparison", "comparison"
            )
            cards = _cards()
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

    outputs = [raw, verdict, comparison, *cards]
    picker.wire(on_compare, run, [image, models, backend], outputs, "compare", policy, examples)
