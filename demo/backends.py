"""Which runtime a demo card runs on: PyTorch, ONNX Runtime, OpenVINO (when installed), or
the fastest of them here.

"auto" (the default) exports a model to ONNX on first use (cached next to the Hugging Face
cache), times the backends once and remembers the fastest (:func:`zoo.fastest_backend`);
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
LABELS = {
    "pytorch": "PyTorch",
    "onnxruntime": "ONNX Runtime",
    "openvino": "OpenVINO",
    "onnxruntime-int8": "ONNX Runtime int8",
    "openvino-int8": "OpenVINO int8",
}
DEFAULT = "auto"
#: Models this process has already prepared for ONNX Runtime (no progress message again).
_PREPARED: weakref.WeakSet[nn.Module] = weakref.WeakSet()
#: Per model, the backends already prepared (the message is said once per pair).
_PREPARED_FOR: weakref.WeakKeyDictionary[nn.Module, set[str]] = weakref.WeakKeyDictionary()


def onnxruntime_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def openvino_installed() -> bool:
    return onnxruntime_installed() and importlib.util.find_spec("openvino") is not None


def choices() -> list[tuple[str, str]]:
    """The backend picker's ``(label, value)`` pairs."""
    if not onnxruntime_installed():
        return [("PyTorch (ONNX Runtime is not installed)", "pytorch")]
    offered = [
        ("Fastest here (measured once per model)", "auto"),
        ("PyTorch", "pytorch"),
        ("ONNX Runtime", "onnxruntime"),
    ]
    if openvino_installed():
        offered.append(("OpenVINO", "openvino"))
    offered.append(("ONNX Runtime int8", "onnxruntime-int8"))
    if openvino_installed():
        offered.append(("OpenVINO int8", "openvino-int8"))
    return offered


def default() -> str:
    return DEFAULT if onnxruntime_installed() else "pytorch"


def picker(elem_id: str) -> Any:
    """A ``gr.Radio`` to choose the backend."""
    return gr.Radio(
        choices=choices(),
        value=default(),
        label="Backend",
        info="ONNX Runtime and OpenVINO run an exported copy of the same weights (exported on "
        "first use); int8 quantizes it on first use, calibrated on the example photos (the "
        "card says how close it stays to float). Fastest here never picks int8.",
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
    :func:`zoo.fastest_backend` measured (exporting the model on first use); an int8 backend
    quantizes the model on first use and its note says how close int8 stays to float32.

    An export that fails under ``"auto"`` falls back to PyTorch with a note saying why; under
    any other backend the error reaches the card.
    """
    if backend == "pytorch":
        return "pytorch", None
    if on_prepare is not None and backend not in _PREPARED_FOR.get(model, set()):
        what = "timing the backends" if backend == "auto" else f"loading it in {label(backend)}"
        if backend.endswith("-int8"):
            what = f"quantizing it to int8 for {label(backend.removesuffix('-int8'))}"
        on_prepare(f"Exporting {name} to ONNX and {what} (first use only)…")
    _PREPARED.add(model)
    _PREPARED_FOR.setdefault(model, set()).add(backend)
    if backend in ("onnxruntime", "openvino"):
        return backend, None
    if backend.endswith("-int8"):
        return backend, int8_note(model, backend)
    try:
        return zoo.fastest_backend(model), None
    except zoo.ZooError as exc:
        logger.warning("ONNX export of %s failed: %s", name, exc)
        return "pytorch", f"ONNX export failed ({exc}); ran on PyTorch."


def int8_note(model: nn.Module, backend: str) -> str | None:
    """A card's note on an int8 run: how often the int8 file agreed with float32 on its
    calibration photos (None when the record does not say)."""
    from zoo.runtime import with_backend

    record = getattr(with_backend(model, backend), "quantization", None) or {}
    agreement = record.get("agreement_with_float")
    if not isinstance(agreement, (int, float)):
        return None
    return (
        f"int8: gives float32's answer (top-1 class, or each pixel's class) on "
        f"{100 * agreement:.0f} % of its calibration photos"
    )


def label(backend: str | None) -> str:
    return LABELS.get(backend or "pytorch", str(backend))
