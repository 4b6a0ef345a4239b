"""The controls every tab shares: its model picker, backend picker and run button, and how a
run is wired to the button and to the example photos."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from . import backends
from .policy import Policy


def models(
    elem_prefix: str,
    choices: list[tuple[str, str]],
    defaults: list[str],
    limit: int,
    info: str,
) -> Any:
    """The tab's model picker: up to ``limit`` of ``choices`` (``(label, name)`` pairs), or
    any name typed in; ``defaults`` chosen at first. Its ``elem_id`` is
    ``{elem_prefix}models``."""
    return gr.Dropdown(
        choices=choices,
        value=defaults,
        multiselect=True,
        allow_custom_value=True,
        max_choices=limit,
        label="Models",
        info=info,
        elem_id=f"{elem_prefix}models",
    )


def run_button(elem_prefix: str, text: str) -> tuple[Any, Any]:
    """The tab's backend picker and its run button labelled ``text`` (``elem_id``\\ s
    ``{elem_prefix}backend`` and ``{elem_prefix}run``)."""
    backend = backends.picker(f"{elem_prefix}backend")
    run = gr.Button(text, variant="primary", elem_id=f"{elem_prefix}run")
    return backend, run


def photo_examples(photos: list[Path], image: Any) -> Any | None:
    """Example photos that load into ``image`` on click (None without photos)."""
    if not photos:
        return None
    return gr.Examples(examples=[[str(p)] for p in photos], inputs=[image], label="Example photos")


def wire(
    handler: Callable[..., list[Any]],
    run: Any,
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    api_name: str,
    policy: Policy,
    examples: Any | None = None,
) -> None:
    """Run ``handler`` on ``inputs`` into ``outputs`` when ``run`` is clicked (the API
    endpoint ``/{api_name}``), and when one of ``examples`` is clicked (no endpoint), with
    the models and backend chosen. Events skip Gradio's preprocessing (the handler reads
    uploads itself, see :mod:`demo.uploads`) and queue as ``policy`` says."""
    run.click(
        handler,
        inputs=list(inputs),
        outputs=list(outputs),
        api_name=api_name,
        preprocess=False,
        **policy.event_kwargs(),
    )
    if examples is not None:
        examples.load_input_event.then(
            handler,
            inputs=list(inputs),
            outputs=list(outputs),
            preprocess=False,
            api_visibility="private",
            **policy.event_kwargs(),
        )
