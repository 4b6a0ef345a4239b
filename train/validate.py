"""Evaluate a model on one split of a data set, the way its weights' authors did.

    python -m train.validate --model pspnet_resnet50c.mmseg_cityscapes_512x1024 \\
        --data cityscapes:data/cityscapes [--split val] [--checkpoint FILE] [--out m.json]

Segmentation follows mmsegmentation's single-scale, whole-image protocol: each image is resized
with the tag's test-time policy (``zoo.model_info(name).test_resize``; without one, the short
side to the short side of the model's input size: ``zoo.model_info(name).resize_policy()``, as
:func:`zoo.segment` resizes), normalised with the tag's mean/std, run whole, and its logits
are resized bilinearly back to the original size, where the argmax is compared with the
label (255 ignored). Per-class IoU and Acc, aAcc, mIoU and mAcc come from the confusion matrix
summed over the split, in percent.
Classification: top-1/top-5 (percent) and the loss with the training's evaluation transform.
When the data set is the one a tag's published mIoU was measured on, both are printed (for a
saved model, the mIoU its config.json records).

Exit codes: 0 done, 2 bad model name, checkpoint, data set or option (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset, default_collate
from torchvision.transforms.v2 import functional as TF

import zoo

from .data import DataError, DataSplits, build_data, parse_spec
from .transforms import Transformed, classification_transforms

#: The data format that a tag's ``dataset`` was evaluated on (VOC12aug tags: VOC 2012 val).
#: A model trained here records its data set's name (``digits``, ``digits-canvas``).
PUBLISHED_ON = {
    "cityscapes": "cityscapes",
    "ade20k": "ade20k",
    "voc12aug": "voc",
    "voc": "voc",
    "digits": "digits",
    "digits-canvas": "digits",
    "digits-hard": "digits-hard",
}
#: Segmentation inference modes, as :func:`zoo.segment` takes them.
MODES = ("whole", "slide", "auto")
SAVED_PREFIXES = ("local-dir:", "hf-hub:")


# -- model and data -------------------------------------------------------------------------
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


def _limited(dataset: Dataset, limit: int | None) -> Dataset:
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


# -- segmentation ---------------------------------------------------------------------------
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


@torch.inference_mode()
def evaluate_segmentation(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    resize: Any = None,
    mean: Sequence[float] = zoo.pipeline.IMAGENET_MEAN,
    std: Sequence[float] = zoo.pipeline.IMAGENET_STD,
    device: torch.device | str = "cpu",
    batch_size: int = 1,
    workers: int = 0,
    progress: bool = False,
    mode: str = "whole",
    tta: str | None = None,
    sync: bool = False,
) -> dict[str, Any]:
    """Evaluation at the original resolution (see the module docstring).

    Args:
        model: ``(B, 3, h, w) → (B, K, h, w)`` logits.
        dataset: ``(image, (H, W) mask)`` pairs, 255 = ignore.
        num_classes: K.
        resize: A ``TestResize`` (``.output_size(w, h)``) or None.
        mean: Normalisation mean (0–1 scale).
        std: Normalisation std (0–1 scale).
        device: Where the model runs (and the confusion matrix sums).
        batch_size: Images per forward; only consecutive images of one size share a batch.
        workers: DataLoader worker processes (decoding and resizing).
        progress: A progress bar on a terminal.
        mode: ``"whole"`` (one forward pass per resized image), ``"slide"`` (windows of the
            model's input size at two thirds of it, as :func:`zoo.segment`) or ``"auto"``.
            Anything but ``"whole"`` needs a zoo model (its pretrained cfg).
        tta: None, or ``"flip"``: average the softmax of the image and its mirror image.
        sync: Sum the confusion matrices of all processes (each evaluates its own shard).

    Returns:
        :meth:`SegmentationMetrics.compute` (fractions) plus ``images`` (all processes).

    Raises:
        zoo.ZooError: An unreadable image or mask (the message names the file); a bad
            ``mode``/``tta``.
    """
    from .metrics import SegmentationMetrics  # torchmetrics: the train extra

    model.eval()
    device = torch.device(device)
    plain = mode == "whole" and tta is None
    metrics = SegmentationMetrics(num_classes, device=device, sync=sync)
    loader = _loader(TestInputs(dataset, resize, mean, std), 1, workers, _single, device)
    count = 0
    batches = same_size_batches(_progress(loader, len(loader), progress, "image"), batch_size)
    with all_or_none(device, sync):
        for batch in batches:
            inputs = torch.stack([inputs for inputs, _ in batch]).to(device)  # (B, 3, h, w)
            targets = torch.stack([mask for _, mask in batch]).to(device)  # (B, H, W)
            if plain:
                logits = model(inputs)  # (B, K, h, w)
            else:
                logits = zoo.segment_logits(model, inputs, mode=mode, tta=tta, batch_size=4)
            size = (targets.shape[-2], targets.shape[-1])
            predicted = torch.stack(
                [zoo.pipeline.argmax_at(item, size) for item in logits]
            )  # (B, H, W)
            metrics.update(predicted.long(), targets)
            count += len(batch)
    return {**metrics.compute(), "images": _total(count, device, sync)}


@contextlib.contextmanager
def all_or_none(device: torch.device, sync: bool) -> Iterator[None]:
    """Run one process's shard; with ``sync``, every process then learns whether any other
    stopped on an error, before the metric states are summed. Each then exits with one line
    (torchrun's agent would kill them instead; a launcher without one, such as srun, would
    leave them waiting in that sum until the collective's timeout, half an hour on gloo).

    Raises:
        Exception: This process's own error, re-raised once all processes know of it.
        zoo.ZooError: Another process stopped on an error (its message is on its stderr).
    """
    failure: BaseException | None = None
    try:
        yield
    except Exception as exc:
        if not sync:
            raise
        failure = exc
    if not sync:
        return
    import torch.distributed as dist

    failed = torch.tensor([0.0 if failure is None else 1.0], device=device)
    dist.all_reduce(failed, op=dist.ReduceOp.MAX)
    if failure is not None:
        raise failure
    if failed.item():
        raise zoo.ZooError(
            "another process stopped on an error (its message is above); no metrics summed"
        )


def _total(count: int, device: torch.device, sync: bool) -> int:
    """``count`` summed over all processes (when ``sync``)."""
    if not sync:
        return count
    import torch.distributed as dist

    value = torch.tensor([count], dtype=torch.float64, device=device)
    dist.all_reduce(value)
    return int(value.item())


# -- classification -------------------------------------------------------------------------
@torch.inference_mode()
def evaluate_classification(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
    tta: str | None = None,
    sync: bool = False,
) -> dict[str, Any]:
    """Top-1/top-5, per-class accuracy (fractions), the confusion matrix and the mean
    cross-entropy, with the training's evaluation transform (resize to ``size / crop_pct``,
    centre crop, the cfg's mean/std).

    Args:
        model: ``(B, 3, S, S) → (B, K)`` logits, with a timm ``pretrained_cfg``.
        dataset: ``(image, class index)`` pairs.
        num_classes: K.
        device: Where the model runs.
        batch_size: Images per forward.
        workers: DataLoader worker processes.
        progress: A progress bar on a terminal.
        tta: None, or ``"flip"``: average the softmax of the image and its mirror image (the
            loss is then the NLL of the averaged probabilities).
        sync: Sum the metric states of all processes (each evaluates its own shard).

    Raises:
        zoo.ZooError: An unreadable image (the message names the file); a bad ``tta``.
    """
    if tta not in (None, "flip"):
        raise zoo.ConfigError(f"--tta must be flip (or left out), got {tta!r}")
    model.eval()
    device = torch.device(device)
    cfg: dict[str, Any] = dict(cast(dict, model.pretrained_cfg))
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    transformed = Transformed(dataset, classification_transforms(cfg, size, train=False))
    loader = _loader(transformed, batch_size, workers, _collate, device)
    from torchmetrics.aggregation import SumMetric

    from .metrics import ClassificationMetrics  # torchmetrics: the train extra

    metrics = ClassificationMetrics(num_classes, per_class=True, sync=sync, device=device)
    loss_sum = SumMetric(sync_on_compute=sync).to(device)  # NCCL syncs device tensors only
    count = SumMetric(sync_on_compute=sync).to(device)
    with all_or_none(device, sync):
        for batch in checked(_progress(loader, len(loader), progress, "batch")):
            images, targets = batch[0].to(device), batch[1].to(device)  # (B, 3, S, S), (B,)
            logits = model(images).float()  # (B, K)
            if tta == "flip":  # log of the mean probabilities: argmax and NLL of the average
                probs = (logits.softmax(1) + model(images.flip(-1)).float().softmax(1)) / 2
                logits = probs.clamp(min=1e-12).log()
            loss_sum.update(float(F.cross_entropy(logits, targets, reduction="sum")))
            count.update(float(len(targets)))
            metrics.update(logits, targets)
    total = float(count.compute())
    return {**metrics.compute(), "val_loss": float(loss_sum.compute()) / max(total, 1.0),
            "images": int(total)}  # fmt: skip


# -- the whole evaluation -------------------------------------------------------------------
def _percent(value: float) -> float | None:
    return None if math.isnan(value) else 100.0 * value


#: The metric a tag or saved model records, per task, and how validate's result names it.
REFERENCE_METRIC = {"segmentation": "mIoU", "classification": "top1"}


def published_metric(info: Any, kind: str, split: str, num_classes: int) -> float | None:
    """The primary metric (percent: mIoU, or top-1) recorded with the weights, when it was
    measured on this data set's validation split with these classes; else None. A trained
    model records a fraction."""
    value = info.metrics.get(REFERENCE_METRIC.get(info.task, "mIoU"))
    if (
        PUBLISHED_ON.get(info.dataset or "") != kind
        or split != "val"
        or info.num_classes != num_classes
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
    ):
        return None
    return float(value) * 100.0 if value <= 1.0 else float(value)


@dataclass(frozen=True)
class Shard:
    """This process's part of the evaluation: images ``rank``, ``rank + world``, ... ."""

    device: torch.device
    rank: int = 0
    world: int = 1

    def of(self, dataset: Dataset) -> Dataset:
        size = len(dataset)  # type: ignore[arg-type]
        return dataset if self.world == 1 else Subset(dataset, range(self.rank, size, self.world))


def shard_for(device: torch.device) -> Shard:
    """One process, or — under ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE`` > 1) —
    this process's rank, with torch.distributed set up by accelerate (gloo on CPUs, NCCL on
    GPUs, one GPU per process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard(device=device)
    from accelerate import PartialState

    state = PartialState(cpu=device.type == "cpu")
    return Shard(state.device, state.process_index, state.num_processes)


def validate(
    model_name: str,
    data: str,
    split: str = "val",
    checkpoint: str | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    limit: int | None = None,
    workers: int = 0,
    progress: bool = False,
    mode: str = "whole",
    tta: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate ``model_name`` on the ``split`` of ``data`` (see the module docstring).

    Under ``torchrun``/``accelerate launch`` each process evaluates every ``world``-th image
    and the metric states are summed, so the numbers are those of one process.

    Args:
        model_name: A registry tag, ``local-dir:PATH`` or ``hf-hub:org/name``.
        data: ``FORMAT:PATH`` as for training (``cityscapes:DIR``, ``ade20k:DIR``, ...).
        split: ``"val"`` or ``"train"``.
        checkpoint: A local weight file for a registry tag.
        batch_size: Images per forward (default: 1 for segmentation, whose images differ in
            size; only consecutive images of one size are batched. 32 for classification).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        limit: Evaluate the first ``limit`` images only.
        workers: DataLoader worker processes.
        progress: A progress bar (on a terminal).
        mode: Segmentation: ``"whole"`` (default, how every published tag here was
            evaluated), ``"slide"`` or ``"auto"`` (see :func:`zoo.segment`).
        tta: None (default, as the tags' single-scale numbers) or ``"flip"``.
        seed: The training run's ``--seed`` for data sets split at random (see
            :func:`open_split`).

    Returns:
        Segmentation: ``aAcc``, ``mIoU``, ``mAcc`` (percent), ``per_class`` (``[{"class",
        "IoU", "Acc"}, ...]``, percent or None where undefined), ``confusion_matrix`` (pixel
        counts, rows = ground truth). Classification: ``top1``, ``top5``, ``per_class``
        (``[{"class", "Acc"}, ...]``, percent), ``confusion_matrix`` (image counts) and
        ``val_loss``. Both: ``model``, ``data``, ``split``, ``images``, ``mode``, ``tta``
        and, when the data set is the one the weights' metric was measured on,
        ``published_<metric>`` and ``<metric>_difference`` (ours − published).

    Raises:
        zoo.ZooError: A bad model name, weights, checkpoint, option or data set.
    """
    info = zoo.model_info(model_name)
    if batch_size is None:
        batch_size = 1 if info.task == "segmentation" else 32
    _check_options(batch_size, limit, workers, mode, tta, info.task)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise zoo.ConfigError(f"--seed must be an integer ≥ 0 (the training run's), got {seed!r}")
    shard = shard_for(resolve_device(device))
    model = load_model(model_name, checkpoint)
    num_classes = int(getattr(model, "num_classes", info.num_classes))
    splits = open_split(data, info.task, split, num_classes, seed)
    dataset = shard.of(_limited(splits.train if split == "train" else splits.val, limit))
    model.to(shard.device)
    head = {"model": model_name, "data": data, "split": split, "mode": mode, "tta": tta}
    common: dict[str, Any] = dict(device=shard.device, batch_size=batch_size, workers=workers,
                                  progress=progress and shard.rank == 0, tta=tta,
                                  sync=shard.world > 1)  # fmt: skip
    if info.task != "segmentation":
        scores = evaluate_classification(model, dataset, num_classes, **common)
        result = {**head, **classification_summary(scores, splits.classes)}
    else:
        resize = info.resize_policy()  # the policy zoo.segment applies
        scores = evaluate_segmentation(model, dataset, num_classes, resize, info.mean, info.std,
                                       mode=mode, **common)  # fmt: skip
        policy = {"mode": resize.mode, "size": list(resize.size)}
        result = {**head, "test_resize": policy,
                  **segmentation_summary(scores, splits.classes)}  # fmt: skip
    published = published_metric(info, parse_spec(data)[0], split, num_classes)
    if published is not None and limit is None:
        metric = REFERENCE_METRIC[info.task]
        ours = result[metric]
        result[f"published_{metric}"] = published
        result[f"{metric}_difference"] = None if ours is None else ours - published
    return result


def _check_options(
    batch_size: int, limit: int | None, workers: int, mode: str, tta: str | None, task: str
) -> None:
    def positive(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if not positive(batch_size):
        raise zoo.ConfigError(f"--batch-size must be a positive integer, got {batch_size!r}")
    if limit is not None and not positive(limit):
        raise zoo.ConfigError(f"--limit must be a positive integer, got {limit!r}")
    if not (positive(workers) or workers == 0):
        raise zoo.ConfigError(f"--workers must be 0 or a positive integer, got {workers!r}")
    if mode not in MODES:
        raise zoo.ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "whole" and task != "segmentation":
        raise zoo.ConfigError(f"--mode {mode} is for segmentation models; this one classifies")
    if tta not in (None, "flip"):
        raise zoo.ConfigError(f"--tta must be flip (or left out), got {tta!r}")


def segmentation_summary(scores: dict[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """:func:`evaluate_segmentation`'s fractions as mmsegmentation reports them: percent,
    None where a class has no IoU/Acc."""
    per_class = zip(classes, scores["per_class_iou"], scores["per_class_acc"], strict=True)
    return {
        "images": scores["images"],
        "aAcc": _percent(scores["pixel_acc"]),
        "mIoU": _percent(scores["mIoU"]),
        "mAcc": _percent(scores["mAcc"]),
        "per_class": [
            {"class": c, "IoU": _percent(i), "Acc": _percent(a)} for c, i, a in per_class
        ],
        "confusion_matrix": scores["confusion_matrix"],
    }


def classification_summary(scores: dict[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """:func:`evaluate_classification`'s fractions in percent (per-class None where a class
    has no image)."""
    per_class = zip(classes, scores["per_class_acc"], strict=True)
    return {
        "images": scores["images"],
        "top1": 100.0 * scores["top1"],
        "top5": 100.0 * scores["top5"],
        "val_loss": scores["val_loss"],
        "per_class": [{"class": c, "Acc": _percent(a)} for c, a in per_class],
        "confusion_matrix": scores["confusion_matrix"],
    }


# -- report ---------------------------------------------------------------------------------
def _cell(value: float | None) -> str:
    return "nan" if value is None else f"{value:.2f}"


def class_table(per_class: list[dict[str, Any]]) -> str:
    """mmsegmentation's per-class table: class, IoU, Acc (percent, ``nan`` where undefined)."""
    width = max(len("Class"), *(len(row["class"]) for row in per_class))
    rule = f"+-{'-' * width}-+--------+--------+"
    rows = [rule, f"| {'Class':<{width}} |    IoU |    Acc |", rule]
    rows += [
        f"| {v['class']:<{width}} | {_cell(v['IoU']):>6} | {_cell(v['Acc']):>6} |"
        for v in per_class
    ]
    return "\n".join([*rows, rule])


#: Classification reports print the per-class table up to this many classes (all are in --out).
MAX_TABLE_CLASSES = 100


def accuracy_table(per_class: list[dict[str, Any]]) -> str:
    """Classification's per-class table: class, Acc (percent, ``nan`` without an image)."""
    width = max(len("Class"), *(len(row["class"]) for row in per_class))
    rule = f"+-{'-' * width}-+--------+"
    rows = [rule, f"| {'Class':<{width}} |    Acc |", rule]
    rows += [f"| {v['class']:<{width}} | {_cell(v['Acc']):>6} |" for v in per_class]
    return "\n".join([*rows, rule])


def report(result: dict[str, Any]) -> str:
    """What the command prints."""
    count = result["images"]
    settings = [f"{result.get('mode', 'whole')}"] if "mIoU" in result else []
    settings += ["flip"] if result.get("tta") else []
    title = (
        f"{result['model']} on {result['data']} ({result['split']}, {count} "
        f"image{'' if count == 1 else 's'}{', ' if settings else ''}{', '.join(settings)})"
    )
    if "top1" in result:
        per_class = result["per_class"]
        table = (
            accuracy_table(per_class)
            if len(per_class) <= MAX_TABLE_CLASSES
            else f"({len(per_class)} classes: per-class accuracy in --out)"
        )
        lines = [title, table, f"top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}"]
        metric, label = "top1", "top-1"
    else:
        lines = [
            title,
            class_table(result["per_class"]),
            f"aAcc {_cell(result['aAcc'])}  mIoU {_cell(result['mIoU'])}  "
            f"mAcc {_cell(result['mAcc'])}",
        ]
        metric, label = "mIoU", "mIoU"
    if f"published_{metric}" in result:
        difference = result[f"{metric}_difference"]
        where = (
            "recorded in its config.json"
            if result["model"].startswith(SAVED_PREFIXES)
            else "published, zoo.model_info"
        )
        lines.append(
            f"reference {label} {result[f'published_{metric}']:.2f} ({where}), ours "
            f"{_cell(result[metric])}, difference "
            f"{'nan' if difference is None else f'{difference:+.2f}'}"
        )
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities (e.g. the loss of diverged weights) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def write_json(result: dict[str, Any], path: str) -> None:
    """``result`` as JSON, written atomically (undefined values are ``null``)."""
    with zoo.atomic_write(path, "w") as file:
        json.dump(_jsonable(result), file, indent=2, allow_nan=False)
        file.write("\n")


# -- command line ---------------------------------------------------------------------------
def default_workers(most: int = 4) -> int:
    """``most`` data-loading processes, or as many as this process may use cores (more would
    only make PyTorch's DataLoader warn and the processes compete)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(most, cores))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.validate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="registry tag, local-dir:PATH or hf-hub:org/name")
    p.add_argument(
        "--data",
        required=True,
        help="cityscapes:DIR, ade20k:DIR, voc:DIR, masks:DIR, imagefolder:DIR, "
        "cifar10:DIR or digits",
    )
    p.add_argument("--split", default="val", choices=("val", "train"))
    p.add_argument("--checkpoint", help="local weight file (.pth, .safetensors) for a tag")
    p.add_argument(
        "--batch-size",
        type=int,
        help="images per forward (default: 1 for segmentation, where only consecutive images "
        "of one size share a batch; 32 for classification)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="data-loading processes (default: 4, or fewer on a machine with fewer cores)",
    )
    p.add_argument("--limit", type=int, help="evaluate the first N images only")
    p.add_argument(
        "--mode",
        default="whole",
        choices=MODES,
        help="segmentation: whole image (default: how every published tag here was evaluated), "
        "sliding windows of the model's input size, or auto",
    )
    p.add_argument(
        "--tta",
        choices=("flip",),
        help="test-time augmentation: average with the horizontally flipped image",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the training run's --seed, for data split at random (digits, digits-hard, "
        "folders without train/val directories); the trainer's default is 0",
    )
    p.add_argument("--out", help="write all metrics to this JSON file")
    p.add_argument("--confusion-matrix", metavar="PNG", help="draw the confusion matrix here")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    return p


def _fail(message: str) -> int:
    print(" ".join(message.split()), file=sys.stderr)  # one line
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from . import missing_extra

    message = missing_extra()
    if message:  # after parsing, so that --help works with the core install alone
        return _fail(f"error: {message}")
    for option, path in (("--out", args.out), ("--confusion-matrix", args.confusion_matrix)):
        if path and Path(path).is_dir():
            return _fail(f"error: {option} {path} is a directory; name a file")
    try:
        result = validate(
            args.model,
            args.data,
            args.split,
            args.checkpoint,
            args.batch_size,
            args.device,
            args.limit,
            args.workers,
            args.progress,
            args.mode,
            args.tta,
            args.seed,
        )
    except zoo.ZooError as exc:  # model, weights, checkpoint, option and data errors
        return _fail(f"{'data error' if isinstance(exc, DataError) else 'error'}: {exc}")
    if os.environ.get("RANK", "0") != "0":  # under torchrun: one report, from rank 0
        return 0
    print(report(result))
    return _write_outputs(result, args.out, args.confusion_matrix)


def _write_outputs(result: dict[str, Any], out: str | None, png: str | None) -> int:
    if out:
        try:
            write_json(result, out)
        except OSError as exc:
            return _fail(f"error: cannot write --out {out}: {exc}")
    if png:
        from .outputs import plot_confusion_matrix

        classes = [row["class"] for row in result["per_class"]]
        title = f"{result['model']} on {result['data']} ({result['split']})"
        try:
            plot_confusion_matrix(result["confusion_matrix"], classes, png, title)
        except ImportError:
            return _fail("error: --confusion-matrix needs matplotlib: pip install matplotlib")
        except (OSError, ValueError) as exc:
            return _fail(f"error: cannot write --confusion-matrix {png}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
