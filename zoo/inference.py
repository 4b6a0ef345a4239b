"""Running a classifier on images the way its weights expect (through :mod:`zoo.pipeline`)."""

from __future__ import annotations

from typing import overload

import torch
from torch import nn

from .errors import ConfigError
from .images import ImageSource
from .labels import get_labels
from .pipeline import Preprocess, apply_backend, device_and_dtype
from .pipeline import top_k as most_likely


@overload
def classify(
    model: nn.Module,
    image: list[ImageSource] | tuple[ImageSource, ...],
    top_k: int = ...,
    *,
    tta: str | None = ...,
    backend: str | None = ...,
    batch_size: int = ...,
) -> list[list[tuple[str, float]]]: ...


@overload
def classify(
    model: nn.Module,
    image: ImageSource,
    top_k: int = ...,
    *,
    tta: str | None = ...,
    backend: str | None = ...,
    batch_size: int = ...,
) -> list[tuple[str, float]]: ...


@torch.inference_mode()
def classify(
    model: nn.Module,
    image: ImageSource | list[ImageSource] | tuple[ImageSource, ...],
    top_k: int = 5,
    *,
    tta: str | None = None,
    backend: str | None = None,
    batch_size: int = 16,
) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
    """Top-k classes of an image (or of each image of a list, run in batches).

    Preprocessing is timm's evaluation transform for the model's cfg (resize the short side to
    ``size / crop_pct``, centre crop, normalise); a JPEG much larger than that is decoded at
    a reduced size (see :class:`zoo.pipeline.Preprocess`).

    Args:
        model: A classifier (``(B, 3, H, W) → (B, K)`` logits); switched to eval mode. An
            :class:`zoo.ORTModel` runs on ONNX Runtime.
        image: Anything :func:`zoo.load_image` accepts, or a list of them.
        top_k: How many classes to return (at most K).
        tta: None, or ``"flip"``: average the softmax probabilities of the image and its
            mirror image (as ``python -m train.validate --tta flip`` scores classifiers).
        backend: None (run the model as given: an :class:`zoo.ORTModel` on ONNX Runtime,
            anything else on PyTorch), ``"pytorch"``, ``"onnxruntime"`` (the model's cached
            ONNX export, see :func:`zoo.runtime.with_backend`), ``"openvino"`` (the same
            export on OpenVINO) or ``"auto"`` (the fastest float backend on this machine).
        batch_size: Images per forward pass for a list.

    Returns:
        ``[(label, probability), ...]`` sorted by probability, probabilities in [0, 1]; for a
        list of images, one such list per image.

    Raises:
        InvalidImageError: An image cannot be read.
        ConfigError: ``top_k`` or ``batch_size`` is not a positive integer, ``tta`` is not
            None or ``"flip"``, the model is not a classifier, or the backend is unknown.
        MissingExtraError: ``backend="onnxruntime"`` without ``vision-zoo[onnx]``.
    """
    for name, value in (("top_k", top_k), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if tta not in (None, "flip"):
        raise ConfigError(f"tta must be None or 'flip' for a classifier, got {tta!r}")
    model = apply_backend(model, backend)
    model.eval()
    preprocess = Preprocess.of(model)
    labels = get_labels(model)
    single = not isinstance(image, (list, tuple))
    images: list[ImageSource] = [image] if single else list(image)  # type: ignore[list-item,arg-type]
    results: list[list[tuple[str, float]]] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        inputs = torch.stack([preprocess(preprocess.load(x)[0]) for x in chunk])  # (B, 3, H, W)
        probs = class_probabilities(model, inputs, tta)
        results.extend(most_likely(row, labels, top_k) for row in probs)
    return results[0] if single else results


def class_probabilities(
    model: nn.Module, inputs: torch.Tensor, tta: str | None = None
) -> torch.Tensor:
    """``(B, K)`` softmax probabilities of a classifier for ``(B, 3, H, W)`` inputs (averaged
    with the mirror images' when ``tta="flip"``), float32 on the CPU.

    Raises:
        ConfigError: The model does not return ``(B, K)`` logits.
    """
    device, dtype = device_and_dtype(model)
    x = inputs.to(device=device, dtype=dtype, non_blocking=True)
    if tta == "flip":
        x = torch.cat([x, x.flip(-1)])  # (2B, 3, H, W): the images, then their mirrors
    logits = model(x)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ConfigError(f"classify needs a classifier ((B, K) logits); this model gave {shape}.")
    probs = logits.float().softmax(dim=-1).cpu()
    if tta == "flip":
        probs = (probs[: len(inputs)] + probs[len(inputs) :]) / 2
    return probs
