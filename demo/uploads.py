"""Where an event's file input may come from: only Gradio's own upload cache (and the example
folder). Events run with ``preprocess=False`` so that bad uploads get readable errors; that also
skips Gradio's check of the path a client sends, so it is done here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr


def _allowed_roots() -> list[Path]:
    cache = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    examples = Path(tempfile.gettempdir()) / "vision-zoo-examples"  # demo.examples' default
    return [Path(cache).resolve(), examples.resolve()]


def uploaded_image(payload: Any) -> Any:
    """The uploaded image as RGB ``PIL.Image`` (via :func:`upload_path` and
    :func:`zoo.load_image`); a bad upload is a ``gr.Error`` with zoo's message, naming the
    upload by its file name (never the server's path to it)."""
    import zoo

    path = upload_path(payload)
    try:
        return zoo.load_image(path)
    except zoo.InvalidImageError as exc:
        raise gr.Error(str(exc).replace(path, Path(path).name)) from exc


def upload_path(payload: Any, what: str = "an image", examples: bool = True) -> str:
    """The server-side path of an uploaded file, refused unless Gradio stored it
    (``examples``: the tab has examples to click instead, and the message says so).

    Raises:
        gr.Error: No upload, a malformed one, or a path outside the upload cache.
    """
    if payload is None:
        raise gr.Error(f"Upload {what}{' (or click an example)' if examples else ''} first.")
    path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", payload)
    if not isinstance(path, str) or not path:
        raise gr.Error("The upload did not arrive as a file; try uploading it again.")
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root) for root in _allowed_roots()):
        raise gr.Error("Only files uploaded to this app can be used; upload the file again.")
    return str(resolved)


def chosen_names(names: list[str] | str | None, limit: int, noun: str = "model") -> list[str]:
    """The picker's names, stripped and de-duplicated in order.

    Raises:
        gr.Error: None chosen, or more than ``limit``.
    """
    names = [names] if isinstance(names, str) else list(names or [])
    names = list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))
    if not names:
        raise gr.Error(f"Choose at least one {noun}.")
    if len(names) > limit:
        raise gr.Error(f"Choose at most {limit} models (got {len(names)}).")
    return names


def opacity_value(value: Any) -> float:
    """The opacity slider's value as a float in [0, 1] (None: 0.5).

    Raises:
        gr.Error: Not a number in [0, 1].
    """
    try:
        opacity = 0.5 if value is None else float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"Mask opacity must be a number in [0, 1], got {value!r}.") from None
    if not 0.0 <= opacity <= 1.0:
        raise gr.Error(f"Mask opacity must be in [0, 1], got {value}.")
    return opacity
