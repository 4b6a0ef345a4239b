"""Running a classifier on an image the way its weights expect."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from .errors import ConfigError
from .images import ImageSource, load_image
from .labels import get_labels
from .runtime import device_and_dtype, with_backend


def eval_transform(model: nn.Module) -> Any:
    """timm's evaluation transform for ``model`` (resize, centre crop, normalise per its cfg).

    Returns:
        A callable mapping an RGB ``PIL.Image`` to a ``(3, H, W)`` float tensor.
    """
    from timm.data import create_transform, resolve_data_config

    cached = _TRANSFORMS.get(model)
    if cached is None:
        cached = create_transform(**resolve_data_config({}, model=model), is_training=False)
        _TRANSFORMS[model] = cached
    return cached


_TRANSFORMS: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()


@torch.inference_mode()
def classify(
    model: nn.Module,
    image: ImageSource,
    top_k: int = 5,
    *,
    tta: str | None = None,
    backend: str | None = None,
) -> list[tuple[str, float]]:
    """Top-k classes of one image.

    Args:
        model: A classifier (``(B, 3, H, W) → (B, K)`` logits); switched to eval mode. An
            :class:`zoo.ORTModel` runs on ONNX Runtime.
        image: Anything :func:`zoo.load_image` accepts.
        top_k: How many classes to return (at most K).
        tta: None, or ``"flip"``: average the softmax probabilities of the image and its
            mirror image (as ``python -m train.validate --tta flip`` scores classifiers).
        backend: None (run the model as given: an :class:`zoo.ORTModel` on ONNX Runtime,
            anything else on PyTorch), ``"pytorch"``, ``"onnxruntime"`` (the model's cached
            ONNX export, see :func:`zoo.runtime.with_backend`) or ``"auto"`` (the faster on
            this machine).

    Returns:
        ``[(label, probability), ...]`` sorted by probability, probabilities in [0, 1].

    Raises:
        InvalidImageError: The image cannot be read.
        ConfigError: ``top_k`` is not a positive integer, ``tta`` is not None or ``"flip"``,
            the model is not a classifier, or the backend is unknown.
        MissingExtraError: ``backend="onnxruntime"`` without ``vision-zoo[onnx]``.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
    if tta not in (None, "flip"):
        raise ConfigError(f"tta must be None or 'flip' for a classifier, got {tta!r}")
    model = with_backend(model, backend)
    model.eval()
    pil = load_image(image)
    device, _ = device_and_dtype(model)
    batch = eval_transform(model)(pil).unsqueeze(0).to(device)  # (1, 3, H, W)
    if tta == "flip":
        batch = torch.cat([batch, batch.flip(-1)])  # (2, 3, H, W): the image and its mirror
    logits = model(batch)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ConfigError(f"classify needs a classifier ((B, K) logits); this model gave {shape}.")
    probs = logits.float().softmax(dim=-1).mean(0)  # (K,)
    return _top(probs, get_labels(model), top_k)


def top_labels(logits: torch.Tensor, labels: list[str], top_k: int = 5) -> list[tuple[str, float]]:
    """``(K,)`` logits → the ``top_k`` ``(label, softmax probability)`` pairs, most likely first."""
    return _top(logits.float().softmax(dim=-1), labels, top_k)


def _top(probs: torch.Tensor, labels: list[str], top_k: int) -> list[tuple[str, float]]:
    values, indices = probs.topk(min(top_k, probs.numel()))
    return [(labels[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
