"""ONNX export of any zoo or timm model, verified in ONNX Runtime before it is kept.

:func:`export` records the model with PyTorch's TorchScript-based ONNX exporter, writes the
model's record (labels, normalisation, test-time resize, palette, the whole pretrained cfg)
into the file's metadata properties, runs the file in ONNX Runtime at the export size and at
a second size, and only then renames it into place.

Why the TorchScript exporter (``dynamo=False``): on this project's machines the
``torch.export``-based exporter took over five minutes to record ``tf_efficientnet_lite0`` with
a dynamic height and width (timm's TF "same" padding makes its symbolic shape reasoning
explode), the TorchScript one about a second. What tracing cannot see (a Python branch on a
shape) the zoo's models avoid while traced, and the second-size check catches the rest.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .atomic import atomic_write
from .errors import ConfigError, ZooError, require
from .images import MAX_PIXELS, ImageSource
from .labels import get_labels, get_palette
from .meta import ZooMeta, cfg_dict, meta_of

FORMATS = ("onnx",)
#: What ``quantize`` may ask for.
QUANTIZE = ("int8",)
#: ONNX opset: supported by the TorchScript exporter and by every current ONNX Runtime.
OPSET = 17
#: The opsets PyTorch's TorchScript-based exporter writes (``torch.onnx._constants``).
MIN_OPSET, MAX_OPSET = 7, 20
#: Smallest recorded side (pixels); segmentation exports need 32 × 32, the smallest
#: sliding window :func:`zoo.segment` runs (its ``MIN_CROP_AREA``).
MIN_SIDE, MIN_SEGMENTATION_SIDE = 8, 32
INPUT_NAME, OUTPUT_NAME = "pixel_values", "logits"
#: Largest max |Δ| between ONNX Runtime and PyTorch, relative to max(1, max |logit|).
TOLERANCE = 1e-4
FP16_TOLERANCE = 2e-2
#: Metadata keys written into the ONNX file.
META_PREFIX = "vision_zoo."


class ExportError(ZooError, RuntimeError):
    """The model could not be exported, or the exported file disagrees with PyTorch."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export` wrote and checked.

    Attributes:
        path: The ONNX file.
        dynamic_axes: Input axes of any size (``("batch", "height", "width")`` or
            ``("batch",)`` when the graph needs the export's height and width).
        input_size: ``(3, H, W)`` the model was recorded at.
        max_abs_diff: Largest |ONNX Runtime − PyTorch| over the checked sizes (on random
            inputs; NaN when not checked).
        max_abs_logit: Largest |logit| PyTorch gave there (float32 rounding scales with it).
        checked_sizes: The ``(H, W)`` sizes compared (the float graph's, before
            quantization).
        quantization: For an int8 file, how it was quantized and how close it stays to the
            float graph (see :meth:`zoo.quantize.QuantReport.to_metadata`); else None.
    """

    path: Path
    dynamic_axes: tuple[str, ...]
    input_size: tuple[int, int, int]
    max_abs_diff: float
    max_abs_logit: float
    checked_sizes: tuple[tuple[int, int], ...]
    quantization: dict[str, Any] | None = None


def export(
    model_or_name: nn.Module | str,
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    input_size: Sequence[int] | None = None,
    dynamic: bool = True,
    fp16: bool = False,
    opset: int = OPSET,
    force: bool = False,
    quantize: str | None = None,
    calibration: str | os.PathLike[str] | Sequence[ImageSource] | None = None,
) -> ExportReport:
    """Export a model to ONNX and check the file against PyTorch in ONNX Runtime.

    With ``quantize="int8"`` the checked float graph is then quantized statically (QDQ,
    ``uint8`` activations, per-channel ``int8`` weights; see :mod:`zoo.quantize` for what
    stays in float and why), calibrated on ``calibration``; the file records that it is
    int8, what it was calibrated on and how often it agrees with the float graph there.
    :class:`zoo.ORTModel` runs it like any export.

    Args:
        model_or_name: A model, or a name loaded with its pretrained weights
            (``zoo.create_model(name, pretrained=True)``).
        path: Where to write the ``.onnx`` file (written atomically: a failed export leaves
            any previous file as it was).
        format: ``"onnx"`` (the only format so far).
        input_size: ``(3, H, W)`` or ``(H, W)`` to record at (default: the cfg's
            ``input_size``).
        dynamic: Let batch, height and width vary. Segmentation graphs accept any H, W;
            a classifier whose graph needs the recorded H, W (checked at a second size)
            keeps only the batch dynamic, and the file's metadata says so.
        fp16: Record in float16 (input, weights and output ``float16``; for GPU execution
            providers, checked on CPU only when ONNX Runtime's CPU kernels run it).
        opset: ONNX opset version (7–20, the TorchScript exporter's range).
        force: Replace ``path`` even when it exists and is not an ONNX model (an existing
            ONNX model is replaced without it: that is re-exporting).
        quantize: None (float), or ``"int8"``.
        calibration: For int8: None (the example photos of :mod:`zoo.examples` and their
            mirror images), a folder of images like those the model will see, or a list of
            images (at most 64 are used).

    Returns:
        An :class:`ExportReport`.

    Raises:
        MissingExtraError: ``onnx``/``onnxruntime`` are not installed (``vision-zoo[onnx]``).
        ConfigError: Unknown ``format`` or ``quantize``; ``fp16`` with ``quantize``; not a
            model or a name; an ``input_size`` below 8 × 8 (32 × 32 for segmentation) or
            above the image limit; an ``opset`` outside 7–20; ``path`` is a folder, or a file
            that is not an ONNX model and ``force`` is not set; no calibration image.
        InvalidImageError: A calibration image cannot be read.
        UnknownModelError, WeightsUnavailableError: For a name that cannot be loaded.
        ExportError: The exporter failed, ONNX Runtime's output differs from PyTorch's, or
            ``path`` cannot be written.
    """
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {format!r}")
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"quantize must be None or one of {QUANTIZE}, got {quantize!r}")
    if quantize is not None and fp16:
        raise ConfigError("quantize and fp16 exclude each other: int8 starts from float32")
    valid_opset = isinstance(opset, int) and not isinstance(opset, bool)
    if not (valid_opset and MIN_OPSET <= opset <= MAX_OPSET):
        raise ConfigError(
            f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET}; got {opset!r}"
        )
    if not isinstance(model_or_name, (str, nn.Module)):
        raise ConfigError(
            "export needs a model (a torch.nn.Module) or a model name, got "
            f"{type(model_or_name).__name__}"
        )
    target = Path(path)
    check_target(target, force)
    require("onnx", "onnx")
    require("onnxruntime", "onnx")
    calibrated = None
    if quantize == "int8":  # refusals before the export, not after it
        from .quantize import calibration_images, check_tools

        check_tools()
        calibrated = calibration_images(calibration)
    if isinstance(model_or_name, str):
        from .factory import create_model

        model = create_model(model_or_name, pretrained=True)
    else:
        model = model_or_name
    model.eval()
    size = _input_size(model, input_size)
    dtype = torch.float16 if fp16 else torch.float32
    device = _device(model)
    original_dtype = next((p.dtype for p in model.parameters()), torch.float32)
    try:
        model.to(dtype)
        axes: tuple[str, ...] = ("batch", "height", "width") if dynamic else ()
        data = _record(model, size, dtype, device, axes, opset)
        check = _verify(model, data, size, dtype, device, bool(axes))
        if check is None and dynamic and meta_of(model).task == "classification":
            axes = ("batch",)  # this classifier's graph keeps the recorded H, W
            data = _record(model, size, dtype, device, axes, opset)
            check = _verify(model, data, size, dtype, device, False)
        if check is None:
            raise ExportError(
                f"The ONNX graph of {_name(model)} gives other results than PyTorch at a second "
                "input size; export with dynamic=False to fix the size."
            )
    finally:
        model.to(original_dtype)
    max_diff, scale, sizes = check
    quantization = None
    if calibrated is not None:
        from .quantize import quantize_int8

        with torch.inference_mode():
            data, quantized = quantize_int8(data, model, size, calibrated)
        quantization = quantized.to_metadata()
    data = _with_metadata(data, model, size, axes, fp16, quantization)
    try:
        with atomic_write(target) as out:
            out.write(data)
    except OSError as exc:
        raise ExportError(f"Cannot write {target}: {exc.strerror or exc}") from exc
    return ExportReport(target, axes, size, max_diff, scale, sizes, quantization)


def _name(model: nn.Module) -> str:
    cfg = cfg_dict(model)
    return str(cfg.get("architecture") or type(model).__name__)


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device.type == "meta":
        raise ConfigError("The model is on the meta device (no weights loaded); load it first.")
    return parameter.device if parameter is not None else torch.device("cpu")


def check_target(path: Path, force: bool = False) -> None:
    """Refuse to write an export over a folder, or over a file that is not an ONNX model
    unless ``force``.

    Raises:
        ConfigError: As above (the message says how to proceed).
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give the .onnx file to write")
    if path.exists() and not force and not _is_onnx(path):
        raise ConfigError(
            f"{path} exists and is not an ONNX model; it was left as it is. Choose another "
            "path, or pass force=True (--force) to replace it."
        )


def _is_onnx(path: Path) -> bool:
    """Whether ``path`` parses as an ONNX model with a graph (weights not loaded)."""
    try:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # not protobuf, not readable, onnx missing: not provably a model
        return False
    return proto.ir_version > 0 and len(proto.graph.node) > 0


def check_input_size(
    input_size: Sequence[int] | None, task: str = "classification"
) -> tuple[int, int, int] | None:
    """``input_size`` as ``(C, H, W)`` (None stays None), checked against the bounds an
    export can be recorded and run at.

    Raises:
        ConfigError: Not ``(C, H, W)`` or ``(H, W)`` positive integers; a side below 8 (32
            for segmentation); more pixels than the image limit.
    """
    if input_size is None:
        return None
    value = tuple(input_size)
    if len(value) == 2:
        value = (3, *value)
    if len(value) != 3 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ConfigError(f"input_size must be (3, H, W) or (H, W) in pixels, got {input_size!r}")
    height, width = int(value[1]), int(value[2])
    low = MIN_SEGMENTATION_SIDE if task == "segmentation" else MIN_SIDE
    if min(height, width) < low:
        raise ConfigError(
            f"input size {height}×{width} is too small to record a {task} model at; each side "
            f"needs at least {low} pixels."
        )
    if height * width > MAX_PIXELS:
        raise ConfigError(
            f"input size {height}×{width} is {height * width / 1e6:.0f} megapixels; the limit is "
            f"{MAX_PIXELS / 1e6:.0f} (the largest image the zoo reads)."
        )
    return int(value[0]), height, width


def _input_size(model: nn.Module, input_size: Sequence[int] | None) -> tuple[int, int, int]:
    value = input_size if input_size is not None else cfg_dict(model).get("input_size")
    checked = check_input_size(tuple(value or (3, 224, 224)), meta_of(model).task)
    assert checked is not None
    return checked


def _record(
    model: nn.Module,
    size: tuple[int, int, int],
    dtype: torch.dtype,
    device: torch.device,
    axes: tuple[str, ...],
    opset: int,
) -> bytes:
    """The ONNX file's bytes, recorded at batch 1 and ``size``."""
    import io

    sample = torch.zeros(1, *size, dtype=dtype, device=device)
    dims = {0: "batch", 2: "height", 3: "width"}
    dynamic_axes = {
        INPUT_NAME: {i: n for i, n in dims.items() if n in axes},
        OUTPUT_NAME: {i: n for i, n in dims.items() if n in axes},
    }
    buffer = io.BytesIO()  # the TorchScript exporter writes to file objects too
    try:
        with warnings.catch_warnings(), torch.no_grad(), _native_stdout_dropped_on_error():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                model,
                (sample,),
                buffer,  # type: ignore[arg-type]
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes if axes else None,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many types; name the model and the cause
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"ONNX export of {_name(model)} failed: {cause}") from exc
    return buffer.getvalue()


@contextmanager
def _native_stdout_dropped_on_error() -> Iterator[None]:
    """While the exporter runs, send what is written to file descriptor 1 to a temporary file:
    the TorchScript exporter's C++ code prints the whole graph (hundreds of lines) there when it
    fails. Dropped on failure; passed on to stdout otherwise."""
    with _STDOUT_LOCK:  # descriptor 1 is the process's: one redirection at a time
        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # no file descriptor 1 (a detached process)
            yield
            return
        failed = False
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            try:
                yield
            except BaseException:
                failed = True
                raise
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                if not failed and sink.tell():
                    sink.seek(0)
                    sys.stdout.flush()
                    os.write(1, sink.read())


_STDOUT_LOCK = threading.Lock()


#: A dynamic graph recorded at more than this many pixels is checked at smaller sizes (any
#: size tests it, and small ones are fast).
CHECK_AREA = 320 * 320
CHECK_SIDE = 160


def _check_sizes(size: tuple[int, int, int], dynamic: bool) -> list[tuple[int, int]]:
    """The (H, W) sizes to compare: the recorded one (a smaller one for a large dynamic
    graph), and for a dynamic graph a second size, odd so that feature maps are odd-sized at
    every stride."""
    height, width = size[1], size[2]
    if not dynamic:
        return [(height, width)]
    if height * width > CHECK_AREA:
        height, width = min(height, CHECK_SIDE), min(width, CHECK_SIDE)
    second = (height + 37 - height % 2, width - 19 if width > 64 else width + 19)
    return [(height, width), second]


def _verify(
    model: nn.Module,
    data: bytes,
    size: tuple[int, int, int],
    dtype: torch.dtype,
    device: torch.device,
    dynamic: bool,
) -> tuple[float, float, tuple[tuple[int, int], ...]] | None:
    """``(max |Δ|, max |logit|, sizes)`` of ONNX Runtime against PyTorch at the check sizes,
    or None when the second size disagrees; raises when the first does."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # an fp16 graph without CPU kernels, for one
        if dtype == torch.float16:
            return float("nan"), float("nan"), ()
        raise ExportError(f"ONNX Runtime cannot load the export of {_name(model)}: {exc}") from exc
    sizes = _check_sizes(size, dynamic)
    generator = torch.Generator().manual_seed(0)
    worst = scale = 0.0
    for index, (height, width) in enumerate(sizes):
        batch = 2 if dynamic else 1
        x = torch.randn(batch, size[0], height, width, generator=generator).to(dtype)
        try:
            with torch.no_grad():
                expected = model(x.to(device)).float().cpu().numpy()
        except Exception:
            if index == 0:
                raise
            return None  # the model itself takes one size only
        try:
            got = session.run(None, {INPUT_NAME: x.numpy()})[0].astype(np.float32)
        except Exception as exc:
            if index == 0:
                raise ExportError(f"ONNX Runtime failed on {_name(model)}: {exc}") from exc
            return None
        tolerance = FP16_TOLERANCE if dtype == torch.float16 else TOLERANCE
        if got.shape != expected.shape:
            if index == 0:
                raise ExportError(f"ONNX output {got.shape} ≠ PyTorch's {expected.shape}")
            return None
        diff = float(np.abs(got - expected).max())
        if not diff <= tolerance * max(1.0, float(np.abs(expected).max())):
            if index == 0:
                raise ExportError(
                    f"ONNX Runtime and PyTorch disagree on {_name(model)}: max |Δ| = {diff:.2e}"
                )
            return None
        worst, scale = max(worst, diff), max(scale, float(np.abs(expected).max()))
    return worst, scale, tuple(sizes)


def _with_metadata(
    data: bytes,
    model: nn.Module,
    size: tuple[int, int, int],
    axes: tuple[str, ...],
    fp16: bool,
    quantization: dict[str, Any] | None = None,
) -> bytes:
    """The ONNX bytes with the model's record in ``metadata_props`` (all values JSON)."""
    import onnx

    proto = onnx.load_from_string(data)
    proto.producer_name = "vision-zoo"
    cfg = {k: v for k, v in cfg_dict(model).items() if k != "zoo"}
    meta = meta_of(model)
    properties = {
        "task": meta.task,
        "labels": get_labels(model),
        "palette": [list(c) for c in get_palette(model)] if meta.task == "segmentation" else None,
        "mean": list(cfg.get("mean") or (0.485, 0.456, 0.406)),
        "std": list(cfg.get("std") or (0.229, 0.224, 0.225)),
        "input_size": list(size),
        "dynamic_axes": list(axes),
        "test_resize": meta.to_config().get("test_resize"),
        "dtype": "float16" if fp16 else "float32",
        "pretrained_cfg": _json_safe(cfg),
        "zoo": meta.to_config(),
        "quantization": quantization,
    }
    for key, value in properties.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, json.dumps(value)
    return proto.SerializeToString()


def _json_safe(cfg: dict[str, Any]) -> dict[str, Any]:
    safe = {}
    for key, value in cfg.items():
        try:
            json.dumps(value)
        except TypeError:
            continue
        safe[key] = value
    return safe


def read_metadata(proto_or_props: Any) -> dict[str, Any]:
    """The zoo's metadata of an ONNX model (``onnx.ModelProto`` or ORT ``custom_metadata_map``)
    as a dict of decoded JSON values; empty when the file was not written by :func:`export`."""
    if hasattr(proto_or_props, "metadata_props"):
        items = {p.key: p.value for p in proto_or_props.metadata_props}
    else:
        items = dict(proto_or_props)
    out = {}
    for key, value in items.items():
        if key.startswith(META_PREFIX):
            try:
                out[key[len(META_PREFIX) :]] = json.loads(value)
            except json.JSONDecodeError:
                continue
    return out


def record_of(metadata: dict[str, Any]) -> tuple[dict[str, Any], ZooMeta]:
    """``(pretrained_cfg dict, ZooMeta)`` rebuilt from :func:`read_metadata` output."""
    cfg = dict(metadata.get("pretrained_cfg") or {})
    cfg["label_names"] = list(metadata.get("labels") or cfg.get("label_names") or [])
    cfg["num_classes"] = len(cfg["label_names"]) or cfg.get("num_classes", 0)
    cfg["input_size"] = tuple(metadata.get("input_size") or cfg.get("input_size") or (3, 224, 224))
    meta = ZooMeta.from_dict(metadata.get("zoo"))
    cfg["zoo"] = meta
    return cfg, meta
