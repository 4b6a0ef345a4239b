"""The controls every tab shares: its model picker, backend picker and run button, and how a
run is wired to the button and to the example photos."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

import zoo

from . import backends
from .models import one_line
from .names import MAX_NAME_CHARS
from .policy import Policy

logger = logging.getLogger(__name__)


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


def results_table(headers: list[str], widths: list[str], label: str, elem_id: str) -> Any:
    """A read-only table of results that fits its column: each column gets its share of the
    table's width (``widths``, e.g. ``"24%"``), text wraps inside it, and a cell longer than
    :data:`demo.names.MAX_NAME_CHARS` (a long model name) is cut with an ellipsis until it
    is clicked."""
    return gr.Dataframe(
        headers=headers,
        interactive=False,
        label=label,
        elem_id=elem_id,
        wrap=True,
        column_widths=list(widths),
        max_chars=MAX_NAME_CHARS,
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
    uploads itself, see :mod:`demo.uploads`) and queue as ``policy`` says; a visitor's
    mistake is one line in the log (see :func:`user_errors`)."""
    handler = user_errors(handler, api_name, policy)
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


def user_errors(handler: Callable[..., Any], api_name: str, policy: Policy) -> Callable[..., Any]:
    """``handler`` with each visitor's mistake logged in one line instead of a traceback.

    A ``gr.Error`` (no upload, a bad file, no model chosen, a run already going) and a
    :class:`zoo.ZooError` (the zoo's message for bad input) are the visitor's to read: logged
    at INFO as ``/api_name: message`` and raised as a ``gr.Error`` that Gradio shows without
    printing its traceback (a zoo message shows no server paths in public mode). Any other
    exception is a bug in the server: it propagates unchanged and Gradio prints its traceback
    (the visitor reads only "Error").
    """

    @contextlib.contextmanager
    def one_line_errors() -> Iterator[None]:
        try:
            yield
        except gr.Error as exc:
            logger.info("/%s: %s", api_name, one_line(str(exc.message)))
            exc.print_exception = False
            raise
        except zoo.ZooError as exc:
            logger.info("/%s: %s", api_name, one_line(str(exc)))
            message = policy.public_text(str(exc))
            raise gr.Error(message, print_exception=False) from exc

    if inspect.isgeneratorfunction(handler):  # a streaming handler: its errors come as it runs

        @functools.wraps(handler)
        def stream(*args: Any, **kwargs: Any) -> Iterator[list[Any]]:
            with one_line_errors():
                yield from handler(*args, **kwargs)

        return stream

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> list[Any]:
        with one_line_errors():
            return handler(*args, **kwargs)

    return run
