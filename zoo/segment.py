"""Semantic segmentation of images, run the way each model's weights were evaluated.

:func:`segment` reads the model's record once: normalisation (``mean``/``std``), the
test-time resize its authors used (:class:`zoo.meta.TestResize`) and the crop it was trained
at (its ``input_size``, the window of sliding-window inference). It returns a
:class:`SegmentationResult` whose mask is at the original image size.

Whole-image inference runs the resized image in one forward pass. Sliding-window inference
(mmsegmentation's ``slide`` mode) runs crop-sized windows at a stride, in batches, sums their
logits into the image and divides by how many windows covered each pixel. Test-time
augmentation averages softmax probabilities over a horizontal flip and, optionally, scales.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from numbers import Real
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from .errors import ConfigError, InvalidImageError
from .images import MAX_PIXELS, ImageSource, load_image
from .labels import get_labels, get_palette
from .meta import cfg_dict, meta_of
from .pipeline import (
    AUTO_SLIDE_AREAS,
    Preprocess,
    apply_backend,
    auto_mode,
    device_and_dtype,
    mask_at,
)

MODES = ("auto", "whole", "slide")
#: Smallest sliding window (pixels) and most windows per image: a 1×1 crop would be one forward
#: pass per pixel.
MIN_CROP_AREA = 32 * 32
MAX_WINDOWS = 4096
__all__ = ["AUTO_SLIDE_AREAS", "MODES", "SegmentationResult", "segment", "segment_logits"]


class SegmentationResult:
    """One image's segmentation.

    Attributes:
        mask: ``(H, W)`` class indices at the original image size (``uint8`` for up to 256
            classes, else ``int32``).
        labels: Class names, one per index.
        palette: RGB colour (0–255) per class.
        image: The input as an RGB image (EXIF orientation applied), for overlays. When the
            model needed less than the whole photo (a JPEG decoded at reduced size), it is
            decoded at full size on first use.
        probs: ``(K, H, W)`` float32 softmax probabilities at the original size, when asked
            for (``return_probs=True``), else None.
        latency_ms: Wall time of preprocessing, model and postprocessing, in milliseconds.
        mode: ``"whole"`` or ``"slide"``, as run.
        input_size: ``(height, width)`` the image was resized to before the model.
    """

    def __init__(
        self,
        mask: np.ndarray,
        labels: list[str],
        palette: list[tuple[int, int, int]],
        image: Image.Image | Callable[[], Image.Image],
        probs: Tensor | None = None,
        latency_ms: float = 0.0,
        mode: str = "whole",
        input_size: tuple[int, int] = (0, 0),
    ) -> None:
        self.mask, self.labels, self.palette = mask, labels, palette
        self._image = image
        self.probs, self.latency_ms, self.mode, self.input_size = (
            probs,
            latency_ms,
            mode,
            input_size,
        )

    @property
    def image(self) -> Image.Image:
        if not isinstance(self._image, Image.Image):
            self._image = self._image()
        return self._image

    def __repr__(self) -> str:
        return (
            f"SegmentationResult(mask={self.mask.shape[1]}×{self.mask.shape[0]}, "
            f"classes={len(self.labels)}, mode={self.mode!r}, input_size={self.input_size}, "
            f"latency_ms={self.latency_ms:.1f})"
        )

    def colorize(self) -> Image.Image:
        """The mask drawn in the palette's colours (RGB, original size)."""
        colours = np.asarray(self.palette, dtype=np.uint8)  # (K, 3)
        return Image.fromarray(colours[self.mask])

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        """The image with the coloured mask blended over it (``alpha`` = mask opacity, 0–1)."""
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
        return Image.blend(self.image, self.colorize(), alpha)

    def class_shares(self) -> dict[str, float]:
        """Fraction of the image's pixels per class present, largest first (plain floats)."""
        counts = np.bincount(self.mask.ravel(), minlength=len(self.labels))
        total = max(int(counts.sum()), 1)
        order = np.argsort(-counts, kind="stable")
        return {self.labels[i]: int(counts[i]) / total for i in order if counts[i]}


@overload
def segment(
    model: nn.Module,
    images: list[ImageSource] | tuple[ImageSource, ...],
    *,
    mode: str = ...,
    tta: str | Sequence[float] | None = ...,
    crop: tuple[int, int] | None = ...,
    stride: tuple[int, int] | None = ...,
    batch_size: int = ...,
    return_probs: bool = ...,
    backend: str | None = ...,
) -> list[SegmentationResult]: ...


@overload
def segment(
    model: nn.Module,
    images: ImageSource,
    *,
    mode: str = ...,
    tta: str | Sequence[float] | None = ...,
    crop: tuple[int, int] | None = ...,
    stride: tuple[int, int] | None = ...,
    batch_size: int = ...,
    return_probs: bool = ...,
    backend: str | None = ...,
) -> SegmentationResult: ...


def segment(
    model: nn.Module,
    images: ImageSource | list[ImageSource] | tuple[ImageSource, ...],
    *,
    mode: str = "auto",
    tta: str | Sequence[float] | None = None,
    crop: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    batch_size: int = 4,
    return_probs: bool = False,
    backend: str | None = None,
) -> SegmentationResult | list[SegmentationResult]:
    """Segment one image (or a list of images) with a segmentation model.

    Preprocessing follows the model's pretrained cfg: the image is resized by its test-time
    policy (``model_info(name).test_resize``; without one, the short side goes to the short
    side of the model's ``input_size``), normalised with its ``mean``/``std``, run, and the
    logits are resized bilinearly back to the original size (:mod:`zoo.pipeline`). A JPEG
    file far larger than the model needs is decoded at 1/2, 1/4 or 1/8 size by the decoder
    (keeping at least twice the model's pixels per side); the mask is still at the original
    size, and ``result.image`` is decoded in full when first used (an error if the file has
    changed since).

    Args:
        model: A segmentation model (``(B, 3, H, W) → (B, K, H, W)``); switched to eval mode.
        images: A path, bytes, PIL image or array (anything :func:`zoo.load_image` takes), or
            a list of them.
        mode: ``"whole"``: one forward pass on the resized image. ``"slide"``: windows of
            ``crop`` at ``stride``, logits averaged where they overlap. ``"auto"``: whole,
            unless the resized image is larger than ``AUTO_SLIDE_AREAS`` crops.
        tta: ``None``; ``"flip"`` (average with the horizontally mirrored run); or a tuple of
            scales, e.g. ``(0.75, 1.0, 1.25)``, for multi-scale + flip. Probabilities are
            averaged.
        crop: Sliding window ``(height, width)`` in pixels (default: the cfg's input size).
        stride: Window stride (default: two thirds of ``crop``).
        batch_size: Windows per forward pass in slide mode, and images per forward pass for
            a list run whole without TTA (same-size inputs are stacked; bounds memory).
        return_probs: Also return ``(K, H, W)`` probabilities at the original size (memory
            K × H × W × 4 bytes).
        backend: None (run the model as given: an :class:`zoo.ORTModel` on ONNX Runtime,
            anything else on PyTorch), ``"pytorch"``, ``"onnxruntime"`` (the model's cached
            ONNX export, see :func:`zoo.runtime.with_backend`), ``"openvino"`` (the same
            export on OpenVINO) or ``"auto"`` (the fastest float backend on this machine).

    Returns:
        A :class:`SegmentationResult`, or a list of them for a list of images.

    Raises:
        InvalidImageError: An image cannot be read or is too large.
        ConfigError: Unknown ``mode``/``tta``/``backend``, bad ``crop``/``stride``/
            ``batch_size``, or a model that is not a segmentation model.
        MissingExtraError: ``backend="onnxruntime"`` without ``vision-zoo[onnx]``.
    """
    settings = _settings(model, mode, tta, crop, stride, batch_size)
    model = apply_backend(model, backend)
    if isinstance(images, (list, tuple)):
        if settings.mode != "slide" and settings.scales == (1.0,) and not settings.flip:
            return _segment_batched(model, list(images), settings, return_probs)
        return [_segment_one(model, image, settings, return_probs) for image in images]
    return _segment_one(model, images, settings, return_probs)


@torch.inference_mode()
def _segment_batched(
    model: nn.Module, sources: list[ImageSource], s: _Settings, return_probs: bool
) -> list[SegmentationResult]:
    """A list run whole without TTA: ``batch_size`` images at a time are decoded, and those
    whose model inputs share a size go through one forward pass (an image that ``mode="auto"``
    slides runs on its own, as :func:`segment` would run it)."""
    results: list[SegmentationResult] = []
    device, dtype = device_and_dtype(model)
    model.eval()
    for first in range(0, len(sources), s.batch_size):
        chunk = sources[first : first + s.batch_size]
        start = time.perf_counter()
        loaded = [(source, *s.preprocess.load(source)) for source in chunk]
        done: dict[int, SegmentationResult] = {}
        groups: dict[tuple[int, int], list[int]] = {}
        resize = s.preprocess.resize
        assert resize is not None  # a segmentation model's preprocessing
        for i, (source, image, (width, height)) in enumerate(loaded):
            base = s.preprocess.input_size(width, height)
            slides = s.mode == "auto" and auto_mode(resize, s.crop, base[1], base[0]) == "slide"
            if slides or base[0] * base[1] > MAX_PIXELS:  # as segment runs it (or refuses it)
                again = source if isinstance(source, (str, os.PathLike)) else image
                done[i] = _segment_one(model, again, s, return_probs)
            else:
                groups.setdefault(base, []).append(i)
        for base, members in groups.items():
            inputs = torch.stack([s.preprocess(loaded[i][1], base) for i in members])
            logits = _scores(model, inputs.to(device=device, dtype=dtype), s, "whole", False,
                             (base[1], base[0])).cpu()  # fmt: skip
            share = (time.perf_counter() - start) * 1000 / len(chunk)
            for i, scores in zip(members, logits, strict=True):
                source, image, (width, height) = loaded[i]
                mask, probs = mask_at(scores, (height, width), probs=return_probs)
                full = _full(source, image, (width, height))
                done[i] = SegmentationResult(mask, s.labels, s.palette, full, probs, share,
                                             "whole", (base[1], base[0]))  # fmt: skip
        results.extend(done[i] for i in range(len(chunk)))
    return results


def _full(
    source: ImageSource, image: Image.Image, size: tuple[int, int]
) -> Image.Image | Callable[[], Image.Image]:
    """The image for overlays: ``image`` itself, or (decoded at reduced size) the file's full
    image when first asked for, provided the file has not changed."""
    if image.size == size:
        return image
    return partial(_reload, Path(source).resolve(), os.stat(source))  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Settings:
    mode: str
    scales: tuple[float, ...]
    flip: bool
    crop: tuple[int, int]
    stride: tuple[int, int]
    batch_size: int
    preprocess: Preprocess
    labels: list[str]
    palette: list[tuple[int, int, int]]


def _scale(value: Any) -> bool:
    """Whether ``value`` is a test-time scale: a real number (numpy's too) in [0.1, 4]."""
    return isinstance(value, Real) and not isinstance(value, bool) and 0.1 <= float(value) <= 4.0


def _pair(value: Any, name: str) -> tuple[int, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigError(f"{name} must be (height, width) in pixels, got {value!r}")
    return int(value[0]), int(value[1])


def _settings(
    model: nn.Module,
    mode: str,
    tta: str | Sequence[float] | None,
    crop: tuple[int, int] | None,
    stride: tuple[int, int] | None,
    batch_size: int,
) -> _Settings:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    scales: tuple[float, ...]
    if tta is None:
        scales, flip = (1.0,), False
    elif tta == "flip":
        scales, flip = (1.0,), True
    elif isinstance(tta, (tuple, list)) and tta and all(_scale(s) for s in tta):
        scales, flip = tuple(float(s) for s in tta), True
    else:
        raise ConfigError(f"tta must be None, 'flip' or a tuple of scales in [0.1, 4], got {tta!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    cfg = cfg_dict(model)
    meta = meta_of(model)
    if not cfg:
        raise ConfigError(
            f"segment needs a segmentation model built by the zoo; this {type(model).__name__} "
            "has no pretrained_cfg, so its task, labels and preprocessing are unknown. Build "
            "it with zoo.create_model(...) or load a saved one with 'local-dir:PATH'."
        )
    if meta.task != "segmentation":
        raise ConfigError(
            "segment needs a segmentation model; this one is a "
            f"{meta.task} model (use zoo.classify)."
        )
    size = tuple(cfg.get("input_size") or (3, 512, 512))
    if crop is None and int(size[1]) * int(size[2]) < MIN_CROP_AREA:
        raise ConfigError(
            f"This model records an input size of {size[1]}×{size[2]} (an export recorded at "
            f"that size?), below the smallest window segment runs ({MIN_CROP_AREA} px); "
            "re-export it at its training size (--input-size H W), or pass crop=(H, W)."
        )
    crop = _pair(crop, "crop") if crop is not None else (int(size[1]), int(size[2]))
    fixed = getattr(model, "fixed_size", None)  # an ORTModel's export may take one size only
    if fixed is not None and mode == "slide" and crop != fixed:
        raise ConfigError(
            f"This ONNX export takes {fixed[0]}×{fixed[1]} inputs only (exported with a fixed "
            f"size), so sliding windows must be that size, not {crop}; leave crop unset or "
            "export with a dynamic size."
        )
    stride = (
        _pair(stride, "stride")
        if stride is not None
        else (max(1, math.ceil(crop[0] * 2 / 3)), max(1, math.ceil(crop[1] * 2 / 3)))
    )
    if stride[0] > crop[0] or stride[1] > crop[1]:
        raise ConfigError(
            f"stride {stride} must not exceed crop {crop}: pixels between windows would get "
            "no prediction."
        )
    if crop[0] * crop[1] < MIN_CROP_AREA:
        raise ConfigError(f"crop {crop} is too small: windows need at least {MIN_CROP_AREA} px.")
    labels = get_labels(model)
    if len(labels) == 1:
        raise ConfigError(
            "segment needs K ≥ 2 logits (one per class); this model has one output channel."
        )
    return _Settings(
        mode=mode,
        scales=scales,
        flip=flip,
        crop=crop,
        stride=stride,
        batch_size=batch_size,
        preprocess=Preprocess.of(model),
        labels=labels,
        palette=list(get_palette(model)),
    )


@torch.inference_mode()
def _segment_one(
    model: nn.Module, source: ImageSource, s: _Settings, return_probs: bool
) -> SegmentationResult:
    start = time.perf_counter()
    model.eval()
    largest = max(s.scales)
    image, (width, height) = s.preprocess.load(source, full=largest > 1.0)
    base = s.preprocess.input_size(width, height)  # (w, h) the authors evaluated at
    if base[0] * base[1] * largest * largest > MAX_PIXELS:  # the cap holds at every scale
        raise InvalidImageError(
            f"At test-time scale {largest:g} the {width}×{height} image becomes "
            f"{round(base[0] * largest)}×{round(base[1] * largest)} pixels, above the limit of "
            f"{MAX_PIXELS / 1e6:.0f} megapixels; use smaller scales or downscale the image."
        )
    device, dtype = device_and_dtype(model)
    mode = s.mode
    if mode == "auto":  # a model that resizes internally ("none") always sees the whole image
        mode = auto_mode(s.preprocess.resize, s.crop, base[1], base[0])  # type: ignore[arg-type]
    averaged = len(s.scales) > 1 or s.flip  # TTA averages probabilities, else raw logits
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)  # (3, H, W)
    scores: Tensor | None = None  # (K, h, w) at the base size
    for scale in s.scales:
        size = (max(1, round(base[0] * scale)), max(1, round(base[1] * scale)))
        x = s.preprocess.tensor(pixels, size).unsqueeze(0).to(device=device, dtype=dtype)
        term = _scores(model, x, s, mode, averaged, (base[1], base[0]))[0]  # (K, h, w)
        scores = term if scores is None else scores + term
    assert scores is not None
    if len(s.scales) > 1:
        scores = scores / len(s.scales)
    mask, probs = mask_at(scores.cpu(), (height, width), probs=return_probs, are_probs=averaged)
    return SegmentationResult(
        mask=mask,
        labels=s.labels,
        palette=s.palette,
        image=_full(source, image, (width, height)),
        probs=probs,
        latency_ms=(time.perf_counter() - start) * 1000,
        mode=mode,
        input_size=(base[1], base[0]),
    )


def _reload(path: Path, seen: os.stat_result) -> Image.Image:
    """The full image of a file segmented at reduced size, if it is still that file.

    Raises:
        InvalidImageError: The file was replaced, changed or removed since.
    """
    try:
        now = os.stat(path)
    except OSError:
        now = None
    if now is None or (now.st_mtime_ns, now.st_size, now.st_ino) != (
        seen.st_mtime_ns,
        seen.st_size,
        seen.st_ino,
    ):
        raise InvalidImageError(
            f"{path} changed or was removed after it was segmented, so its overlay cannot be "
            "drawn; segment it again."
        )
    return load_image(path)


def _scores(
    model: nn.Module,
    x: Tensor,
    s: _Settings,
    mode: str,
    averaged: bool,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """``(B, K, H, W)`` float32 scores of normalised inputs ``x`` ``(B, 3, h, w)``: the logits
    resized bilinearly to ``size`` = (H, W) (default: the input's), or (``averaged``) their
    softmax probabilities, averaged with the mirrored run when ``s.flip``."""
    total: Tensor | None = None
    size = size or (x.shape[-2], x.shape[-1])
    for flipped in (False, True) if s.flip else (False,):
        inputs = x.flip(-1) if flipped else x
        if mode == "slide":
            logits = torch.cat([_slide(model, one[None], s) for one in inputs])
        else:
            logits = model(inputs)
        logits = (logits.flip(-1) if flipped else logits).float()  # (B, K, h, w)
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        term = logits.softmax(1) if averaged else logits
        total = term if total is None else total + term
    assert total is not None
    return total / 2 if s.flip else total


@torch.inference_mode()
def segment_logits(
    model: nn.Module,
    inputs: Tensor,
    *,
    mode: str = "whole",
    tta: str | None = None,
    crop: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
    batch_size: int = 4,
) -> Tensor:
    """Scores of inputs that are already resized and normalised: the model step of
    :func:`segment`, for evaluation loops that prepare their own batches.

    Args:
        model: A segmentation model; switched to eval mode.
        inputs: ``(B, 3, h, w)`` normalised images at the test-time size, on the model's
            device.
        mode: ``"whole"``, ``"slide"`` or ``"auto"`` (as in :func:`segment`, decided on
            ``h × w``).
        tta: None, or ``"flip"``: the mean softmax probabilities of the image and its mirror
            image (scales need the original image: use :func:`segment`).
        crop: Sliding window ``(height, width)`` (default: the cfg's input size).
        stride: Window stride (default: two thirds of ``crop``).
        batch_size: Windows per forward pass in slide mode.

    Returns:
        ``(B, K, h, w)`` float32: logits without TTA, probabilities with it (the argmax is the
        prediction either way).

    Raises:
        ConfigError: Unknown ``mode``/``tta``, bad ``crop``/``stride``/``batch_size``, or not a
            segmentation model.
    """
    if tta not in (None, "flip"):
        raise ConfigError(f"tta must be None or 'flip' here, got {tta!r}")
    s = _settings(model, mode, tta, crop, stride, batch_size)
    model.eval()
    if mode == "auto":
        resize = s.preprocess.resize
        mode = auto_mode(resize, s.crop, inputs.shape[-2], inputs.shape[-1])  # type: ignore[arg-type]
    return _scores(model, inputs, s, mode, averaged=s.flip)


def _windows(length: int, crop: int, stride: int) -> list[tuple[int, int]]:
    """Start/end of each window along one axis (mmsegmentation's grid: the last window is
    shifted back to end at the border; one window when the image is smaller than the crop)."""
    count = max(length - crop + stride - 1, 0) // stride + 1
    spans = []
    for index in range(count):
        end = min(index * stride + crop, length)
        spans.append((max(end - crop, 0), end))
    return spans


def _slide(model: nn.Module, x: Tensor, s: _Settings) -> Tensor:
    """Sliding-window logits ``(1, K, h, w)`` of ``x`` ``(1, 3, h, w)``: windows run in batches
    of ``batch_size``; overlapping logits are summed and divided by the window count."""
    _, _, height, width = x.shape
    boxes = [
        (y0, y1, x0, x1)
        for y0, y1 in _windows(height, s.crop[0], s.stride[0])
        for x0, x1 in _windows(width, s.crop[1], s.stride[1])
    ]
    if len(boxes) > MAX_WINDOWS:
        raise ConfigError(
            f"crop {s.crop} at stride {s.stride} gives {len(boxes)} windows on a {width}×{height} "
            f"input (at most {MAX_WINDOWS}); use a larger crop or stride."
        )
    total: Tensor | None = None
    count = torch.zeros(1, 1, height, width, device=x.device)
    for start in range(0, len(boxes), s.batch_size):
        chunk = boxes[start : start + s.batch_size]
        crops = torch.cat([x[:, :, y0:y1, x0:x1] for y0, y1, x0, x1 in chunk])  # same size
        logits = model(crops).float()  # (n, K, crop_h, crop_w)
        if total is None:
            total = x.new_zeros(1, logits.shape[1], height, width, dtype=torch.float32)
        for (y0, y1, x0, x1), window in zip(chunk, logits, strict=True):
            total[0, :, y0:y1, x0:x1] += window
            count[0, :, y0:y1, x0:x1] += 1
    assert total is not None
    return total / count
