"""The one inference pipeline: images in → model-ready batches → model → results out.

Every way of running a model goes through these pieces: :func:`zoo.segment`,
:func:`zoo.classify`, :func:`zoo.segment_video`, ``python -m zoo predict``,
``python -m train.validate`` and the demo.

- :class:`Preprocess` reads a model's record once (normalisation, the tag's test-time resize
  for segmentation, timm's evaluation transform for classification) and turns an image into a
  ``(3, h, w)`` input. :meth:`Preprocess.load` decodes a JPEG at a reduced size (Pillow's
  draft mode: 1/2, 1/4 or 1/8, done inside the decoder) when the model's input is that much
  smaller than the photo.
- :func:`mask_at` resizes a segmentation's scores to the photo's size and takes the argmax
  without ever holding every class's scores at full size (one class plane at a time, or one
  difference plane for two classes).
- :class:`ImageFiles` and :func:`batches` stream a list of files through a
  ``torch.utils.data.DataLoader`` (decoding in worker processes), group same-size inputs into
  batches and run the forward pass; :func:`run` moves a batch to the model's device
  (pinned memory, non-blocking copies) under the asked precision.

A backend is a module the caller passes in (a PyTorch model, or an :class:`zoo.ORTModel`);
nothing here imports the export or ONNX Runtime layers.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor, nn

from .errors import ConfigError, InvalidImageError, ZooError
from .images import ImageSource, check_size, load_image
from .meta import TestResize, cfg_dict, default_test_resize, meta_of

#: The ImageNet statistics (0–1 scale) a model without recorded ones is normalised with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``mode="auto"`` slides when the resized image holds more than this many crop areas.
AUTO_SLIDE_AREAS = 4
#: Precisions :func:`run` accepts.
PRECISIONS = ("fp32", "fp16", "bf16")
_EXIF_ORIENTATION = 0x0112


def device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where a model's inputs go: its parameters' device and dtype (CPU float32 for a model
    without parameters, such as an :class:`zoo.ORTModel`).

    Raises:
        ConfigError: The model is on the meta device.
    """
    parameter = next(model.parameters(), None)
    if parameter is None:
        return torch.device("cpu"), torch.float32
    if parameter.device.type == "meta":
        raise ConfigError("The model is on the meta device (no weights loaded); load it first.")
    return parameter.device, parameter.dtype


def apply_backend(model: nn.Module, backend: str | None) -> nn.Module:
    """``model`` itself when ``backend`` is None, else :func:`zoo.runtime.with_backend` (the
    ONNX layers are imported only then)."""
    if backend is None:
        return model
    from .runtime import with_backend

    return with_backend(model, backend)


def auto_mode(resize: TestResize, crop: tuple[int, int], height: int, width: int) -> str:
    """``"slide"`` when a ``height × width`` model input holds more than
    :data:`AUTO_SLIDE_AREAS` crops (and the model does not resize internally), else
    ``"whole"``: the rule of ``mode="auto"`` everywhere."""
    areas = height * width / (crop[0] * crop[1])
    return "slide" if areas > AUTO_SLIDE_AREAS and resize.mode != "none" else "whole"


@dataclass(frozen=True)
class Preprocess:
    """How a model wants its images, read once from its record.

    Attributes:
        task: ``"segmentation"`` or ``"classification"``.
        mean: Per-channel mean, 0–1 scale.
        std: Per-channel standard deviation, 0–1 scale.
        resize: Segmentation: the tag's test-time resize (the default for weights without one
            is the short side to the short side of ``input_size``).
        transform: Classification: timm's evaluation transform (resize to
            ``size / crop_pct``, centre crop, normalise), PIL image → ``(3, H, W)``.
        crop_size: Classification: the ``(H, W)`` of its centre crop.
        draft: Decode a JPEG at a reduced size (1/2, 1/4 or 1/8, in the decoder) when that
            still leaves at least twice the pixels per side the model needs, so the resize
            that follows still low-pass filters as it would from the full image.
    """

    task: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: TestResize | None = None
    transform: Any = field(default=None, repr=False, compare=False)
    crop_size: tuple[int, int] = (224, 224)
    resize_short: int = 256
    draft: bool = True

    @classmethod
    def of(cls, model: nn.Module, *, task: str | None = None, draft: bool = True) -> Preprocess:
        """The preprocessing of a zoo or timm ``model`` (its ``pretrained_cfg``).

        Args:
            model: A model built by the zoo or timm, or an :class:`zoo.ORTModel`.
            task: When given, the task the caller needs (``"segmentation"`` or
                ``"classification"``).
            draft: See the attribute.

        Raises:
            ConfigError: The model has no ``pretrained_cfg`` (its preprocessing is unknown), or
                is not a ``task`` model.
        """
        cfg = cfg_dict(model)
        if not cfg:
            raise ConfigError(
                f"This {type(model).__name__} has no pretrained_cfg, so its task, labels and "
                "preprocessing are unknown. Build it with zoo.create_model(...) or load a "
                "saved one with 'local-dir:PATH'."
            )
        meta = meta_of(model)
        if task is not None and meta.task != task:
            other = "zoo.classify" if meta.task == "classification" else "zoo.segment"
            raise ConfigError(f"This needs a {task} model; this one is a {meta.task} model "
                              f"(use {other}).")  # fmt: skip
        mean = tuple(float(v) for v in (cfg.get("mean") or IMAGENET_MEAN))
        std = tuple(float(v) for v in (cfg.get("std") or IMAGENET_STD))
        size = tuple(int(v) for v in (cfg.get("input_size") or (3, 224, 224)))
        if meta.task == "segmentation":
            resize = meta.test_resize or default_test_resize(size)
            return cls("segmentation", mean, std, resize=resize, draft=draft)  # type: ignore[arg-type]
        from timm.data import create_transform, resolve_data_config

        config = resolve_data_config({}, model=model)
        crop = (int(config["input_size"][1]), int(config["input_size"][2]))
        short = math.floor(min(crop) / float(config.get("crop_pct") or 1.0))
        transform = create_transform(**config, is_training=False)
        mean, std = tuple(config["mean"]), tuple(config["std"])
        return cls(meta.task, mean, std, transform=transform,  # type: ignore[arg-type]
                   crop_size=crop, resize_short=short, draft=draft)  # fmt: skip

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` the model sees for an upright ``width × height`` image."""
        if self.resize is not None:
            return self.resize.output_size(width, height)
        return self.crop_size[1], self.crop_size[0]

    def _needed(self, width: int, height: int) -> tuple[int, int] | None:
        """The smallest decoded ``(width, height)`` worth keeping: twice the size the model's
        resize produces (or None when the model takes the whole image)."""
        if self.resize is not None:
            if self.resize.mode == "none":
                return None
            w, h = self.resize.output_size(width, height)
        elif self.crop_size[0] == self.crop_size[1]:  # timm resizes the short side
            scale = self.resize_short / min(width, height)
            w, h = math.ceil(width * scale), math.ceil(height * scale)
        else:  # a non-square crop: timm resizes each side to crop / crop_pct
            ratio = self.resize_short / min(self.crop_size)
            w, h = math.ceil(self.crop_size[1] * ratio), math.ceil(self.crop_size[0] * ratio)
        return 2 * w, 2 * h

    def load(
        self, source: ImageSource, *, full: bool = False
    ) -> tuple[Image.Image, tuple[int, int]]:
        """Decode an image for the model: upright RGB, reduced in the decoder when allowed.

        Args:
            source: Anything :func:`zoo.load_image` takes.
            full: Decode at full size (for an overlay) even where a reduced decode would do.

        Returns:
            ``(image, (width, height))``: the RGB image (possibly 1/2, 1/4 or 1/8 of the full
            size) and the full upright size, which outputs such as masks must have.

        Raises:
            InvalidImageError: As :func:`zoo.load_image`.
        """
        if full or not self.draft or not isinstance(source, (str, os.PathLike)):
            image = load_image(source)
            return image, image.size
        return _load_draft(source, self._needed)

    def __call__(
        self, image: Image.Image | np.ndarray, size: tuple[int, int] | None = None
    ) -> Tensor:
        """``(3, h, w)`` float32 model input of an RGB image.

        Args:
            image: RGB image (PIL or ``(H, W, 3)`` uint8 array).
            size: Segmentation only: the ``(width, height)`` to resize to (default:
                :meth:`input_size` of the image's size; pass it when ``image`` was decoded
                at a reduced size).
        """
        if self.transform is not None:
            pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
            return self.transform(pil)
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)  # (3, H, W)
        if size is None:
            size = self.input_size(pixels.shape[2], pixels.shape[1])
        return self.tensor(pixels, size)

    def tensor(self, pixels: Tensor, size: tuple[int, int]) -> Tensor:
        """``(..., 3, h, w)`` normalised float32 input of uint8 ``pixels`` ``(..., 3, H, W)``
        resized bilinearly to ``size`` = (w, h), antialiased as the weights' authors resized."""
        if (pixels.shape[-1], pixels.shape[-2]) != tuple(size):
            from torchvision.transforms.v2 import InterpolationMode
            from torchvision.transforms.v2 import functional as TF

            antialias = self.resize.antialias if self.resize is not None else True
            bilinear = InterpolationMode.BILINEAR
            pixels = TF.resize(pixels, [size[1], size[0]], interpolation=bilinear,
                               antialias=antialias)  # fmt: skip
        scale = 1.0 / (torch.tensor(self.std) * 255.0)
        shift = -torch.tensor(self.mean) / torch.tensor(self.std)
        # channels-first in memory before the float work (a permuted view would make every
        # elementwise pass strided), one float copy, then in place: x / (255 std) - mean / std
        x = pixels.contiguous().float()
        return x.mul_(scale.view(3, 1, 1)).add_(shift.view(3, 1, 1))


def _load_draft(
    path: str | os.PathLike[str], needed: Callable[[int, int], tuple[int, int] | None]
) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`zoo.load_image` of a file, decoded by a JPEG at the smallest of 1/1, 1/2, 1/4,
    1/8 that is still at least the ``needed`` size (given the upright full size)."""
    from .images import _describe, _open

    image = _open(path)
    if image.format != "JPEG":
        image.close()
        loaded = load_image(path)
        return loaded, loaded.size
    width, height = image.size
    check_size(width, height, name=_describe(path))
    turned = image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    upright = (height, width) if turned else (width, height)
    target = needed(*upright)
    try:
        if target is not None:
            stored = (target[1], target[0]) if turned else target
            image.draft("RGB", stored)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return image.convert("RGB") if image.mode != "RGB" else image, upright
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"{_describe(path)} could not be decoded (truncated or corrupt?): {exc}"
        ) from exc


def upsample(scores: Tensor, size: tuple[int, int]) -> Tensor:
    """``(..., h, w)`` → ``(..., H, W)`` bilinear (``align_corners=False``), ``size`` = (H, W)."""
    if tuple(scores.shape[-2:]) == tuple(size):
        return scores
    shape = scores.shape[:-2]
    flat = scores.reshape(1, -1, *scores.shape[-2:])
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False)
    return out.reshape(*shape, *size)


def mask_at(
    scores: Tensor, size: tuple[int, int], *, probs: bool = False, are_probs: bool = False
) -> tuple[np.ndarray, Tensor | None]:
    """The argmax mask at ``size`` = (H, W) of ``(K, h, w)`` scores, upsampled bilinearly
    first (``align_corners=False``), as ``argmax(F.interpolate(scores))`` would give.

    Only what the mask needs is made at full size (see :func:`argmax_at`).

    Args:
        scores: ``(K, h, w)`` logits, or probabilities when ``are_probs``.
        size: The output ``(H, W)``.
        probs: Also return ``(K, H, W)`` float32 softmax probabilities (K × H × W × 4 bytes).
        are_probs: ``scores`` are already probabilities.

    Returns:
        ``(mask, probs)``: ``(H, W)`` uint8 class indices (int32 above 256 classes) on the
        CPU, and the probabilities or None.
    """
    if probs:
        full = upsample(scores.float(), size)
        mask = _argmax(full, _index_dtype(len(full)))
        return mask.cpu().numpy(), (full if are_probs else full.softmax(0)).cpu()
    return argmax_at(scores, size).cpu().numpy(), None


def argmax_at(scores: Tensor, size: tuple[int, int]) -> Tensor:
    """``argmax(F.interpolate(scores, size, bilinear))`` over classes, on ``scores``'s device,
    without every class's scores at full size: with two classes one difference plane (the
    resize is linear, so its sign is the argmax), else one class plane at a time against a
    running maximum. Ties go to the lower class index, as ``argmax`` does.

    Args:
        scores: ``(K, h, w)`` logits or probabilities.
        size: The output ``(H, W)``.

    Returns:
        ``(H, W)`` uint8 class indices (int32 above 256 classes).
    """
    scores = scores.float()
    classes = scores.shape[0]
    dtype = _index_dtype(classes)
    if classes == 2:
        return (upsample(scores[1] - scores[0], size) > 0).to(dtype)
    if tuple(scores.shape[-2:]) == tuple(size):
        return _argmax(scores, dtype)
    best = upsample(scores[0], size).clone()
    index = torch.zeros(size, dtype=dtype, device=scores.device)
    for k in range(1, classes):
        plane = upsample(scores[k], size)
        index.masked_fill_(plane > best, k)
        torch.maximum(best, plane, out=best)
    return index


def _index_dtype(classes: int) -> torch.dtype:
    return torch.uint8 if classes <= 256 else torch.int32


def _argmax(scores: Tensor, dtype: torch.dtype) -> Tensor:
    """Argmax over dim 0 of ``(K, H, W)`` (first maximum wins); a running maximum, which on
    CPU is many times faster than ``argmax(0)``'s strided reduction."""
    best = scores[0].clone()
    index = torch.zeros(scores.shape[1:], dtype=dtype, device=scores.device)
    for k in range(1, scores.shape[0]):
        index.masked_fill_(scores[k] > best, k)
        torch.maximum(best, scores[k], out=best)
    return index


def top_k(probs: Tensor, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """``(K,)`` probabilities → the ``k`` most likely ``(label, probability)`` pairs."""
    values, indices = probs.float().topk(min(k, probs.numel()))
    return [(labels[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]


# -- streaming many files ---------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """This process's share of the work under a launcher: ``rank`` of ``world`` processes
    (1 without one), taking items ``rank``, ``rank + world``, ... (``python -m zoo predict``
    shares its inputs this way, ``python -m train.validate`` its images)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Shard:
        """The launcher's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (torchrun and
        ``accelerate launch`` set them).

        Raises:
            ConfigError: They are not integers with 0 ≤ RANK < WORLD_SIZE.
        """
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError:
            raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers.") from None
        if world < 1 or not 0 <= rank < world:
            raise ConfigError(f"RANK {rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE {world}).")
        return cls(rank, world, local)

    def take(self, items: Sequence[Any]) -> list[Any]:
        """Items ``rank``, ``rank + world``, ...: disjoint shares whose union is ``items``."""
        return list(items[self.rank :: self.world])


@dataclass
class Item:
    """One input on its way through :func:`batches`.

    Attributes:
        index: Its position in the input list.
        source: The file (or other source) it came from.
        size: The full upright ``(width, height)``.
        input: ``(3, h, w)`` model input (None when it failed).
        image: ``(H, W, 3)`` uint8 tensor of the full-size pixels, when asked for (overlays).
        error: Why it failed (one line), else None.
        scores: After the forward pass: ``(K, h, w)`` segmentation scores or ``(K,)`` class
            logits, float32 on the CPU.
        forward_ms: Its share of its batch's forward pass, in milliseconds.
    """

    index: int
    source: Any
    size: tuple[int, int] = (0, 0)
    input: Tensor | None = field(default=None, repr=False)
    image: Tensor | None = field(default=None, repr=False)
    error: str | None = None
    scores: Tensor | None = field(default=None, repr=False)
    forward_ms: float = 0.0


class ImageFiles(torch.utils.data.Dataset):
    """A list of image sources as model inputs, for a ``DataLoader`` (decoding and resizing
    run in its workers). An input that cannot be read becomes an :class:`Item` with its
    ``error`` set; it never stops the others.

    Args:
        sources: Paths (or anything :func:`zoo.load_image` takes).
        preprocess: The model's :class:`Preprocess`.
        keep_image: Also carry the full-size pixels (for overlays; decodes at full size).
    """

    def __init__(self, sources: Sequence[Any], preprocess: Preprocess, keep_image: bool = False):
        self.sources, self.preprocess, self.keep_image = list(sources), preprocess, keep_image

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> Item:
        source = self.sources[index]
        try:
            image, size = self.preprocess.load(source, full=self.keep_image)
            target = self.preprocess.input_size(*size)
            item = Item(index, source, size, self.preprocess(image, target))
            if self.keep_image:  # a tensor: it crosses from a worker in shared memory
                item.image = torch.from_numpy(np.asarray(image).copy())
            return item
        except (ZooError, OSError, ValueError, RuntimeError) as exc:
            return Item(index, source, error=" ".join(str(exc).split()))


@dataclass
class Chunk:
    """A ``DataLoader`` batch: its items, and their inputs stacked by size.

    Attributes:
        items: The items, in input order.
        groups: ``(positions in items, (B, 3, h, w) stacked inputs)`` per input size.
    """

    items: list[Item]
    groups: list[tuple[list[int], Tensor]]

    def pin_memory(self) -> Chunk:
        """Page-locked copies of the stacked inputs (the DataLoader calls this)."""
        self.groups = [(positions, x.pin_memory()) for positions, x in self.groups]
        return self


def collate(items: list[Item]) -> Chunk:
    """Stack same-size inputs (in the worker, so the stacks can be pinned)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, item in enumerate(items):
        if item.error is None and item.input is not None:
            groups.setdefault(tuple(item.input.shape), []).append(position)
    stacked = []
    for positions in groups.values():
        stacked.append((positions, _stack([items[p].input for p in positions])))  # type: ignore[misc]
        for p in positions:
            items[p].input = None
    return Chunk(items, stacked)


def _stack(tensors: list[Tensor]) -> Tensor:
    """``torch.stack``, straight into shared memory inside a ``DataLoader`` worker (as
    PyTorch's default collate does): sending a tensor made in private memory copies it into
    shared memory, and the worker's allocator then keeps growing."""
    if torch.utils.data.get_worker_info() is None:
        return torch.stack(tensors)
    first = tensors[0]
    storage = first.untyped_storage()._new_shared(
        len(tensors) * first.numel() * first.element_size()
    )
    out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(tensors, out=out)


def loader(
    dataset: ImageFiles, *, batch_size: int = 8, workers: int = 0, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of :class:`Chunk` (items in input order; with ``workers`` > 0 they are
    decoded and resized in that many processes while the model runs)."""
    extra: dict[str, Any] = {}
    if workers:
        extra = {"prefetch_factor": 2, "persistent_workers": False, "worker_init_fn": _worker_init}
        if "openvino" in sys.modules:  # its thread pool does not survive a fork: start fresh
            extra["multiprocessing_context"] = "forkserver"
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
        pin_memory=pin_memory, **extra,
    )  # fmt: skip


def _worker_init(_: int) -> None:
    """Serve large buffers (a decoded photo, its input tensor) from ``mmap`` in a worker, so
    they go back to the system when freed: glibc's adaptive threshold otherwise moves them
    onto the heap, whose fragmentation made each worker grow by ~2 MB per photo."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(name).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: 1 MiB


def autocast(device: torch.device, precision: str) -> Any:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32).

    Raises:
        ConfigError: Unknown precision, or fp16 on a CPU (use bf16 there).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("fp16 needs a GPU; on a CPU use bf16 or fp32.")
    return torch.autocast(
        device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16
    )


@torch.inference_mode()
def run(model: nn.Module, inputs: Tensor, precision: str = "fp32") -> Tensor:
    """The model's float32 output for a ``(B, 3, h, w)`` batch, moved to its device without
    blocking (pinned host memory makes the copy asynchronous) and back to the CPU.

    Args:
        model: A module in eval mode (a PyTorch model or an :class:`zoo.ORTModel`).
        inputs: Normalised float32 inputs.
        precision: ``"fp32"``, or ``"fp16"``/``"bf16"`` autocast (PyTorch models).

    Returns:
        ``(B, K, h, w)`` or ``(B, K)`` float32 on the CPU.
    """
    device, dtype = device_and_dtype(model)
    x = inputs.to(device=device, dtype=dtype, non_blocking=True)
    uses_autocast = precision != "fp32" and getattr(model, "backend", "pytorch") == "pytorch"
    with autocast(device, precision) if uses_autocast else nullcontext():
        out = model(x)
    return out.float().cpu()


def batches(
    model: nn.Module,
    chunks: Iterable[Chunk],
    *,
    precision: str = "fp32",
    forward: Callable[[nn.Module, Tensor], Tensor] | None = None,
) -> Iterator[list[Item]]:
    """Run the forward pass over a :func:`loader`'s chunks, one call per input size.

    Args:
        model: The model (already on its device and in eval mode).
        chunks: :class:`Chunk` objects (a :func:`loader`).
        precision: As :func:`run`.
        forward: Replaces :func:`run` (e.g. sliding-window segmentation); takes the model
            and a ``(B, 3, h, w)`` batch and returns float32 scores on the CPU.

    Yields:
        Each chunk's items with ``scores`` filled in (failed items keep their ``error``).
    """
    step = forward or (lambda m, x: run(m, x, precision))
    for chunk in chunks:
        for positions, stacked in chunk.groups:
            start = time.perf_counter()
            out = step(model, stacked)
            share = (time.perf_counter() - start) * 1000 / len(positions)
            for position, scores in zip(positions, out, strict=True):
                chunk.items[position].scores = scores
                chunk.items[position].forward_ms = share
        yield chunk.items
