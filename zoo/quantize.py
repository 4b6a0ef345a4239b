"""Static int8 quantization of an exported model with ONNX Runtime's quantization tools.

:func:`quantize_int8` takes the float ONNX graph :func:`zoo.export` recorded and verified,
calibrates each activation's range on images run through the model's own preprocessing
(:class:`zoo.pipeline.Preprocess`), and writes a QDQ graph: activations ``uint8`` per
tensor, weights ``int8`` per output channel. Decided by measurement (24 views of the example
photos, ``tf_efficientnet_lite0``; the table is in ``benchmarks/README.md``):

- **Kept in float: the shape arithmetic.** timm's TF "same" padding computes each pad from
  the input's shape at run time (Shape → Sub/Div/Ceil/Clip → Cast → Pad). Quantized, a pad
  of 1.0 comes back as 0.99999994 and ``Cast`` truncates it to 0: three of five stride-2
  convolutions then see maps shifted by a pixel (top-1 agreement with fp32 58 %). Every node
  computed only from shapes and constants stays float (the Pad itself is quantized).
- **Ranges: the 99.99th percentile** of each activation's histogram rather than its
  min/max (95.8 % against 91.7 % agreement, KL 0.012 against 0.013).
- Quantized as well: the first and last layers and the depthwise convolutions (keeping any
  of them in float made agreement worse, 79–88 %), and ``uint8`` activations (``int8``
  symmetric ones were as accurate but twice as slow as fp32 on this CPU).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from .errors import ConfigError, require
from .images import ImageSource, load_image
from .meta import meta_of

#: Each activation's range: this percentile of its calibration histogram.
PERCENTILE = 99.99
#: At most this many calibration images are read from a folder or list.
MAX_CALIBRATION_IMAGES = 64
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
INPUT_NAME = "pixel_values"


@dataclass(frozen=True)
class QuantReport:
    """How an int8 file was made and how close it stays to the float one.

    Attributes:
        calibration: What it was calibrated on, in words.
        images: How many calibration inputs (views) were run.
        agreement: On those inputs, the share (0–1) of top-1 classes (classification) or of
            pixels' classes (segmentation) that the int8 graph gives as the float one does.
        kl: Mean KL divergence (nats) of the int8 graph's softmax from the float one's (per
            image for classification, per pixel for segmentation).
        float_nodes: Nodes kept in float (the shape arithmetic).
    """

    calibration: str
    images: int
    agreement: float
    kl: float
    float_nodes: int

    def to_metadata(self) -> dict[str, Any]:
        """The record an int8 ONNX file keeps under ``vision_zoo.quantization``."""
        return {
            "type": "int8",
            "format": "QDQ",
            "activations": "uint8, per tensor",
            "weights": "int8, per output channel",
            "calibration": self.calibration,
            "calibration_images": self.images,
            "range": f"percentile {PERCENTILE}",
            "float_nodes": f"{self.float_nodes} (shape arithmetic)",
            "agreement_with_float": round(self.agreement, 5),
            "kl_from_float": round(self.kl, 6),
        }


def calibration_images(
    calibration: str | os.PathLike[str] | Sequence[ImageSource] | None,
) -> tuple[list[Image.Image], str]:
    """The images to calibrate on, and what they are in words.

    Args:
        calibration: None (the example photos that scikit-image, scikit-learn and
            matplotlib install, see :func:`zoo.examples.example_images`, each also
            mirrored), a folder (its images, sorted by name, at most
            :data:`MAX_CALIBRATION_IMAGES`) or a list of images.

    Raises:
        ConfigError: No image found (the message says where to get some).
        InvalidImageError: An image cannot be read.
    """
    if calibration is None:
        from .examples import example_images

        photos = [Image.fromarray(pixels).convert("RGB") for _, pixels in example_images()]
        if not photos:
            raise ConfigError(
                "int8 needs calibration images: pass calibration=FOLDER (a few dozen images "
                "like the ones the model will see), or install scikit-image for the example "
                "photos (pip install 'vision-zoo[demo]')."
            )
        views = [view for photo in photos for view in (photo, ImageOps.mirror(photo))]
        return views, f"the {len(photos)} example photos of zoo.examples and their mirror images"
    if isinstance(calibration, (str, os.PathLike)):
        folder = Path(calibration)
        if not folder.is_dir():
            raise ConfigError(f"calibration must be a folder of images; {folder} is not one.")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError(f"calibration folder {folder} holds no images ({IMAGE_SUFFIXES}).")
        files = files[:MAX_CALIBRATION_IMAGES]
        plural = "s" if len(files) != 1 else ""
        return [load_image(p) for p in files], f"{len(files)} image{plural} from {folder.name}/"
    images = [load_image(source) for source in list(calibration)[:MAX_CALIBRATION_IMAGES]]
    if not images:
        raise ConfigError("calibration is an empty list; give at least one image.")
    return images, f"{len(images)} image{'s' if len(images) != 1 else ''} given"


def _inputs(model: nn.Module, images: list[Image.Image], size: tuple[int, int, int]) -> list[Any]:
    """Each image as the model's input ``(1, 3, H, W)`` float32 array: its own preprocessing,
    then (segmentation, whose inputs vary in size) resized to the export's ``size``."""
    from .pipeline import Preprocess

    preprocess = Preprocess.of(model)
    arrays = []
    for image in images:
        tensor = preprocess(image)
        tensor = tensor[0] if isinstance(tensor, tuple) else tensor
        tensor = tensor.unsqueeze(0).float()
        if tuple(tensor.shape[-2:]) != tuple(size[1:]):
            tensor = F.interpolate(tensor, size=size[1:], mode="bilinear", align_corners=False)
        arrays.append(tensor.numpy())
    return arrays


def shape_nodes(graph: Any) -> list[str]:
    """Names of the nodes that compute only from tensor shapes and constants (Shape, and
    every node all of whose computed inputs come from such nodes or Constant nodes), Pad
    excluded."""
    constant = {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    produced = {out for node in graph.node for out in node.output} - constant
    from_shapes: set[str] = set()
    names = []
    for node in graph.node:  # ONNX graphs are topologically sorted
        inputs = [name for name in node.input if name]
        derived = node.op_type == "Shape" or (
            node.op_type != "Pad"
            and any(name in from_shapes for name in inputs)
            and all(name in from_shapes or name not in produced for name in inputs)
            and INPUT_NAME not in inputs
        )
        if derived:
            from_shapes.update(node.output)
            names.append(node.name)
    return names


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _closeness(float_path: str, int8_path: str, inputs: list[Any]) -> tuple[float, float]:
    """(argmax agreement, mean KL) of the int8 graph against the float one on ``inputs``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = [ort.InferenceSession(p, options, providers=["CPUExecutionProvider"])
                for p in (float_path, int8_path)]  # fmt: skip
    agree, kl, count = 0.0, 0.0, 0
    for x in inputs:
        reference, got = (_softmax(s.run(None, {INPUT_NAME: x})[0]) for s in sessions)
        same = reference.argmax(1) == got.argmax(1)  # (1,) or (1, H, W)
        divergence = (reference * (np.log(reference + 1e-12) - np.log(got + 1e-12))).sum(1)
        agree, kl, count = agree + same.mean(), kl + divergence.mean(), count + 1
    return float(agree / count), float(kl / count)


@contextlib.contextmanager
def _quiet_advice() -> Iterator[None]:
    """Drop the quantizer's root-logger advice to pre-process the graph (done where ONNX
    Runtime's shape inference can; the graphs where it cannot are quantized as recorded)."""

    def keep(record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def check_tools() -> None:
    """Raise :class:`zoo.MissingExtraError` unless ONNX Runtime's quantization tools import."""
    require("onnx", "onnx")
    require("onnxruntime.quantization", "onnx")


def quantize_int8(
    data: bytes,
    model: nn.Module,
    size: tuple[int, int, int],
    calibration: tuple[list[Image.Image], str],
) -> tuple[bytes, QuantReport]:
    """Quantize a float ONNX graph to int8 (QDQ), calibrated on images.

    Args:
        data: The float graph's bytes, as :func:`zoo.export` recorded it.
        model: The PyTorch model it was recorded from (its preprocessing and task).
        size: ``(3, H, W)`` the graph was recorded at.
        calibration: The calibration images and what they are, from
            :func:`calibration_images`.

    Returns:
        The int8 graph's bytes (no zoo metadata yet) and a :class:`QuantReport`.

    Raises:
        MissingExtraError: ``onnxruntime``'s quantization tools are not installed
            (``vision-zoo[onnx]``).
        ConfigError: The quantizer failed.
    """
    check_tools()
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images, described = calibration
    with torch.inference_mode():
        inputs = _inputs(model, images, size)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(inputs)

        def get_next(self) -> dict[str, Any] | None:
            item = next(self.items, None)
            return None if item is None else {INPUT_NAME: item}

    with tempfile.TemporaryDirectory(prefix="zoo-int8-") as folder:
        float_path, prepared, out = (str(Path(folder) / n) for n in ("f.onnx", "p.onnx", "q.onnx"))
        Path(float_path).write_bytes(data)
        try:  # ONNX shape inference and graph optimisation; the symbolic shape inference
            # is skipped: where it fails (the person models) it leaves files in the current
            # directory, and ONNX's own inference gives the quantizer what it needs
            quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        except Exception:  # quantize the graph as recorded
            prepared = float_path
        keep_float = shape_nodes(onnx.load(prepared).graph)
        try:
            with contextlib.redirect_stdout(io.StringIO()), _quiet_advice():
                quantize_static(
                    prepared,
                    out,
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=keep_float,
                    calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": PERCENTILE},
                )
        except Exception as exc:  # the quantizer raises many types; say what failed
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"int8 quantization of the {meta_of(model).task} model failed: "
                              f"{cause}") from exc  # fmt: skip
        agreement, kl = _closeness(float_path, out, inputs)
        quantized = Path(out).read_bytes()
    return quantized, QuantReport(described, len(inputs), agreement, kl, len(keep_float))
