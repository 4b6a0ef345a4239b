"""What an evaluation runs on: the model and its weights, the device, this process's shard of
one split, and loaders that hand a sample's error to the main process as one line.

Segmentation inputs are resized with the tag's test-time policy (:class:`TestInputs`) and
batched only where consecutive images share a size (:func:`same_size_batches`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate
from torchvision.transforms.v2 import functional as TF

import zoo

from .data import DataError, DataSplits, build_data, parse_spec
from .transforms import Transformed, classification_transforms

#: Model names that bring their own weights (a saved directory or Hub repository).
SAVED_PREFIXES = ("local-dir:", "hf-hub:")


# -- model, device, shard ---------------------------------------------------------------------
def load_model(name: str, checkpoint: str | None = None) -> nn.Module:
    """The model with its pretrained weights, or a registry tag with the local weight file
    ``checkpoint`` (e.g. an upstream ``.pth``).

    Raises:
        zoo.ZooError: Unknown name, unavailable or unreadable weights; a checkpoint for a
            saved (``local-dir:``/``hf-hub:``) model, or one that is not a file.
    """
    if checkpoint is None:
        return zoo.create_model(name, pretrained=True)
    if name.startswith(SAVED_PREFIXES):
        raise zoo.ConfigError(
            f"--checkpoint loads a weight file into a registry name; {name} brings its own "
            "weights (drop --checkpoint)"
        )
    if not Path(checkpoint).is_file():
        raise zoo.CheckpointError(f"--checkpoint {checkpoint}: no such file")
    return zoo.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": checkpoint})


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else the CPU.

    Raises:
        zoo.ConfigError: An unknown device, or CUDA asked for where there is none.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise zoo.ConfigError(f"--device {device!r}: use cpu, cuda or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise zoo.ConfigError(f"--device {device}: CUDA is not available here; use cpu or auto")
    return torch.device(device)


@dataclass(frozen=True)
class Shard:
    """This process's part of the evaluation: its device, and the images that
    :class:`zoo.pipeline.Shard` gives its rank (``rank``, ``rank + world``, ...), as
    ``python -m zoo predict`` shares its inputs."""

    device: torch.device
    part: zoo.pipeline.Shard = field(default_factory=zoo.pipeline.Shard)

    @property
    def rank(self) -> int:
        return self.part.rank

    @property
    def world(self) -> int:
        return self.part.world

    def of(self, dataset: Dataset) -> Dataset:
        size = len(dataset)  # type: ignore[arg-type]
        return dataset if self.world == 1 else Subset(dataset, self.part.take(range(size)))


def shard_for(device: torch.device) -> Shard:
    """One process, or — under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1) —
    this process's rank, with torch.distributed set up by accelerate (gloo on CPUs, NCCL on
    GPUs, one GPU per process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard(device=device)
    from accelerate import PartialState

    state = PartialState(cpu=device.type == "cpu")
    part = zoo.pipeline.Shard(state.process_index, state.num_processes, state.local_process_index)
    return Shard(state.device, part)


# -- data ------------------------------------------------------------------------------------
def open_split(data: str, task: str, split: str, num_classes: int, seed: int = 0) -> DataSplits:
    """The data set with ``split`` opened (the other split of directory-per-split formats is
    left out). ``num_classes`` (the model's) names the classes of ``masks:`` data without a
    ``classes.json``; ``seed`` is the training run's, for formats split at random (``digits``,
    ``digits-hard``, folders without split directories): another seed's validation split
    holds images that run trained on.

    Raises:
        DataError: See :func:`train.data.build_data`; also a class count that is not the
            model's.
    """
    kind, path = parse_spec(data)
    unnamed = kind == "masks" and not (Path(path).expanduser() / "classes.json").is_file()
    splits = build_data(data, task, seed, num_classes=num_classes if unnamed else None,
                        splits=(split,))  # fmt: skip
    if len(splits.classes) != num_classes:
        raise DataError(
            f"{data} has {len(splits.classes)} classes ({splits.name}) but the model predicts "
            f"{num_classes}; evaluate a model trained on this data set"
        )
    return splits


def limited(dataset: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` samples of ``dataset`` (all of them for None)."""
    size = len(dataset)  # type: ignore[arg-type]
    return dataset if limit is None or limit >= size else Subset(dataset, range(limit))


class Guarded(Dataset):
    """Returns a sample's :class:`zoo.ZooError` (an unreadable image, a bad mask) instead of
    raising it, so that a worker process hands it over as it is (one line, not a traceback)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except zoo.ZooError as exc:
            return exc


def _collate(items: list[Any]) -> Any:
    """A batch, or the first error in it (raised by the main process)."""
    error = next((item for item in items if isinstance(item, zoo.ZooError)), None)
    return error if error is not None else default_collate(items)


def checked(items: Iterable[Any]) -> Iterator[Any]:
    """The items, until one is an error (from :class:`Guarded`), which is raised.

    No frame of the traceback keeps a reference to the error: an exception → traceback →
    frame → exception cycle would keep a DataLoader iterator, and its worker processes, alive
    until the garbage collector or interpreter exit (which then waits seconds for them).
    """
    for item in items:
        if isinstance(item, zoo.ZooError):
            error, item = item, None
            try:
                raise error
            finally:
                del error
        yield item


def _single(items: list[Any]) -> Any:
    return items[0]


def _loader(
    dataset: Dataset, batch_size: int, workers: int, collate: Any, device: torch.device
) -> DataLoader:
    return DataLoader(
        Guarded(dataset),
        batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
    )


def _progress(iterable: Iterable[Any], total: int, enabled: bool, unit: str) -> Iterable[Any]:
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal only, so logs and pipes get no carriage returns
    return tqdm(iterable, total=total, unit=unit, leave=False, disable=None if enabled else True)


#: Most bytes of decoded samples that :class:`SharedSamples` keeps in memory (1 GiB).
SHARED_BYTES = 1 << 30


class SharedSamples:
    """One split's samples decoded once and handed to every model of a comparison, where they
    fit in memory: the first model's :meth:`samples` decodes them all (in ``workers``
    processes) and keeps them; later models get the same objects. Each model still applies
    its own test-time resize, normalisation or crop to them.

    Whether they fit is estimated from the first sample (its pixels' bytes × the samples);
    above ``max_bytes``, or when a sample cannot be read, nothing is kept and each model
    decodes the split itself (an unreadable sample then fails each evaluation as usual).

    Args:
        max_bytes: The most bytes of decoded pixels (and masks) to keep.
    """

    def __init__(self, max_bytes: int = SHARED_BYTES) -> None:
        self.max_bytes = max_bytes
        self.kept: list[Any] | None = None
        self.decided = False  # whether the first model decided to keep the samples

    @property
    def shared(self) -> bool:
        """Whether the samples were decoded once and kept."""
        return self.kept is not None

    def samples(self, dataset: Dataset, workers: int = 0) -> Dataset:
        """``dataset``'s samples as a list kept for the next model, or ``dataset`` itself
        where they do not fit (or were not kept for the first model).

        Raises:
            zoo.ConfigError: A dataset of another length than the first model's.
        """
        size = len(dataset)  # type: ignore[arg-type]
        if self.decided:
            if self.kept is not None and len(self.kept) != size:
                raise zoo.ConfigError(
                    f"shared samples: {len(self.kept)} decoded, but this model's split has {size}"
                )
            return dataset if self.kept is None else _Kept(self.kept)
        self.decided = True
        try:
            first = dataset[0] if size else None
            if first is None or _nbytes(first) * size > self.max_bytes:
                return dataset
            loader = _loader(dataset, 1, workers, _single, torch.device("cpu"))
            self.kept = list(checked(loader))
        except zoo.ZooError:  # the evaluation reads the split again and reports it
            self.kept = None
            return dataset
        return _Kept(self.kept)


class _Kept(Dataset):
    """A list of samples as a map-style dataset."""

    def __init__(self, samples: list[Any]) -> None:
        self.items = samples

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def _nbytes(sample: Any) -> int:
    """Bytes of the pixels, masks and arrays in ``sample`` (a tuple or one item)."""
    if isinstance(sample, (tuple, list)):
        return sum(_nbytes(item) for item in sample)
    if isinstance(sample, Tensor):
        return sample.numel() * sample.element_size()
    if isinstance(sample, Image.Image):
        return sample.width * sample.height * len(sample.getbands())
    return int(getattr(sample, "nbytes", 0))


class TestInputs(Dataset):
    """``(image, mask)`` → ``(input (3, h, w) float, mask (H, W))``: the image resized with the
    test-time policy (bilinear on uint8 pixels, antialiased only where the policy says so:
    mmsegmentation's cv2 resize is not) and normalised; the mask stays at the original size.

    Args:
        dataset: ``(PIL image or (3, H, W) uint8 image, (H, W) mask)`` pairs.
        resize: The tag's test-time resize, or None to keep each image's size.
        mean: Per-channel mean, 0–1 scale.
        std: Per-channel std, 0–1 scale.
    """

    __test__ = False  # not a pytest class

    def __init__(
        self,
        dataset: Dataset,
        resize: Any,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.dataset, self.resize = dataset, resize
        normalise = (tuple(mean), tuple(std))
        self.preprocess = zoo.pipeline.Preprocess("segmentation", *normalise, resize=resize)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, mask = self.dataset[index]
        pixels = TF.to_image(image).as_subclass(Tensor)  # (3, H, W) uint8
        height, width = pixels.shape[-2:]
        size = (width, height)
        if self.resize is not None:
            size = self.resize.output_size(width, height)
        return self.preprocess.tensor(pixels, size), mask.as_subclass(Tensor)


def same_size_batches(samples: Iterable[Any], batch_size: int) -> Iterator[list[Any]]:
    """Consecutive samples grouped into batches of at most ``batch_size`` whose inputs and
    masks share one size (a size change starts a new batch).

    Raises:
        zoo.ZooError: The error a sample carries instead of its tensors (see :func:`checked`).
    """
    batch: list[Any] = []
    for sample in checked(samples):
        if batch and (sample[0].shape, sample[1].shape) != (batch[0][0].shape, batch[0][1].shape):
            yield batch
            batch = []
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def segmentation_batches(
    dataset: Dataset,
    resize: Any,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int,
    workers: int,
    device: torch.device,
    progress: bool,
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(inputs (B, 3, h, w), masks (B, H, W))`` of :class:`TestInputs`, on the CPU: inputs at
    the test-time size, masks at the original size; only consecutive images of one size share
    a batch.

    Args:
        dataset: ``(image, (H, W) mask)`` pairs, 255 = ignore.
        resize: A ``TestResize`` (``.output_size(w, h)``) or None.
        mean: Normalisation mean (0–1 scale).
        std: Normalisation std (0–1 scale).
        batch_size: Images per batch at most.
        workers: DataLoader worker processes (decoding and resizing).
        device: Where the model runs (pinned memory for CUDA).
        progress: A progress bar on a terminal.

    Raises:
        zoo.ZooError: An unreadable image or mask (the message names the file), while
            iterating.
    """
    loader = _loader(TestInputs(dataset, resize, mean, std), 1, workers, _single, device)
    for batch in same_size_batches(_progress(loader, len(loader), progress, "image"), batch_size):
        yield torch.stack([inputs for inputs, _ in batch]), torch.stack([mask for _, mask in batch])


def classification_batches(
    dataset: Dataset,
    cfg: dict[str, Any],
    batch_size: int,
    workers: int,
    device: torch.device,
    progress: bool,
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(images (B, 3, S, S), classes (B,))`` with the training's evaluation transform (resize
    to ``S / crop_pct``, centre crop, the cfg's mean/std; ``S`` from ``cfg["input_size"]``).

    Args:
        dataset: ``(image, class index)`` pairs.
        cfg: The model's timm ``pretrained_cfg``.
        batch_size: Images per batch.
        workers: DataLoader worker processes.
        device: Where the model runs (pinned memory for CUDA).
        progress: A progress bar on a terminal.

    Raises:
        zoo.ZooError: An unreadable image (the message names the file), while iterating.
    """
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    transformed = Transformed(dataset, classification_transforms(cfg, size, train=False))
    loader = _loader(transformed, batch_size, workers, _collate, device)
    batches = checked(_progress(loader, len(loader), progress, "batch"))
    return ((images, classes) for images, classes in batches)  # default_collate gives lists
