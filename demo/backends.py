"""Which runtime a demo card runs on: PyTorch, ONNX Runtime, or the faster of the two here.

"auto" (the default) exports a model to ONNX on first use (cached next to the Hugging Face
cache), times both backends once and remembers the faster (:func:`zoo.runtime.fastest_backend`);
later runs and later starts reuse the choice. Without ``onnxruntime`` installed every card
runs on PyTorch and the picker offers nothing else.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from collections.abc import Callable
from typing import Any

import gradio as gr
from torch import nn

import zoo

logger = logging.getLogger(__name__)
LABELS = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime"}
DEFAULT = "auto"
#: Models this process has already prepared for ONNX Runtime (no progress message again).
_PREPARED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def choices() -> list[tuple[str, str]]:
    """The backend picker's ``(label, value)`` pairs."""
    if not onnxruntime_installed():
        return [("PyTorch (ONNX Runtime is not installed)", "pytorch")]
    return [
        ("Fastest here (measured once per model)", "auto"),
        ("PyTorch", "pytorch"),
        ("ONNX Runtime", "onnxruntime"),
    ]


def default() -> str:
    return DEFAULT if onnxruntime_installed() else "pytorch"


def picker(elem_id: str) -> Any:
    """A ``gr.Radio`` to choose the backend."""
    return gr.Radio(
        choices=choices(),
        value=default(),
        label="Backend",
        info="ONNX Runtime runs an exported copy of the same weights (exported on first use).",
        elem_id=elem_id,
    )


def backend_value(value: Any) -> str:
    """The chosen backend, checked (an API client may send anything); None means the default."""
    if value is None or value == "":
        return default()
    allowed = [v for _, v in choices()]
    if value not in allowed:
        raise gr.Error(f"Backend must be one of {allowed}, got {value!r}.")
    return str(value)


def first_use(model: nn.Module) -> bool:
    """Whether :func:`resolve` has not seen ``model`` yet in this process."""
    return model not in _PREPARED


def resolve(
    model: nn.Module, backend: str, name: str, on_prepare: Callable[[str], None] | None = None
) -> tuple[str, str | None]:
    """``(backend to run on, note)`` for one card: ``"auto"`` becomes the backend
    :func:`zoo.fastest_backend` measured (exporting the model on first use).

    An export that fails under ``"auto"`` falls back to PyTorch with a note saying why; under
    ``"onnxruntime"`` the error reaches the card.
    """
    if backend == "pytorch":
        return "pytorch", None
    if on_prepare is not None and model not in _PREPARED:
        what = "timing both backends" if backend == "auto" else "loading it in ONNX Runtime"
        on_prepare(f"Exporting {name} to ONNX and {what} (first use only)…")
    _PREPARED.add(model)
    if backend == "onnxruntime":
        return "onnxruntime", None
    try:
        return zoo.fastest_backend(model), None
    except zoo.ZooError as exc:
        logger.warning("ONNX export of %s failed: %s", name, exc)
        return "pytorch", f"ONNX export failed ({exc}); ran on PyTorch."


def label(backend: str | None) -> str:
    return LABELS.get(backend or "pytorch", str(backend))
