"""One evaluation loop, for the trainer's per-epoch validation (:func:`evaluate`) and for
``python -m train.validate`` (:func:`evaluate_segmentation`, :func:`evaluate_classification`).

:func:`score_batches` runs a forward function over ``(inputs, targets)`` batches and
accumulates the metrics of :mod:`train.metrics` and the mean cross-entropy. Its callers differ
only in what they pass it:

- the batches: the trainer's validation loader (image and mask resized to the training size,
  so segmentation logits come out at the mask's size), or validate's test-time inputs (resized
  with the tag's policy while the mask keeps its original size: the logits are resized to the
  mask's size before the argmax);
- the forward: the trainer's under autocast (channels-last if the run trains so), validate's
  with flip TTA or sliding windows;
- how processes combine: the trainer gathers each batch's predictions with accelerate;
  validate gives each process its own shard and sums the metric states at the end (``sync``);
- the loss (none for validate's segmentation, whose logits are not at the mask's size) and,
  for classification, the per-class accuracy and confusion matrix (validate's).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import zoo

from .data import IGNORE_INDEX
from .eval_data import classification_batches, segmentation_batches

#: ``(B, 3, h, w)`` inputs → ``(B, K)`` or ``(B, K, h, w)`` scores.
Forward = Callable[[Tensor], Tensor]


# -- the loop ---------------------------------------------------------------------------------
@torch.no_grad()
def score_batches(
    forward: Forward,
    batches: Iterable[tuple[Tensor, Tensor]],
    task: str,
    num_classes: int,
    device: torch.device,
    *,
    loss: bool = True,
    per_class: bool = False,
    accelerator: Any = None,
    sync: bool = False,
) -> dict[str, Any]:
    """The metrics of ``forward``'s scores over ``batches``.

    Args:
        forward: Inputs → logits (or, with TTA, log-probabilities or probabilities: only the
            argmax and, for ``loss``, the cross-entropy of them are taken).
        batches: ``(inputs, targets)``: ``(B,)`` class indices, or ``(B, H, W)`` masks
            (255 = ignore) at any size; segmentation scores are resized to it bilinearly.
        task: ``"segmentation"`` or ``"classification"``.
        num_classes: K.
        device: Where the batches go and the metrics accumulate.
        loss: Also ``val_loss``, the mean cross-entropy per image (per labelled pixel for
            segmentation, whose scores must then be at the mask's size).
        per_class: Classification: also ``per_class_acc`` and ``confusion_matrix``.
        accelerator: Gather each batch's predictions from all processes (accelerate's
            ``gather_for_metrics``, which drops the duplicates that pad uneven shards) and
            sum its loss over them.
        sync: Each process scores its own shard; the metric states, loss and counts are
            summed over all processes at the end, once each knows that none failed.

    Returns:
        ``val_loss`` (with ``loss``), the metrics' ``compute()`` (fractions in [0, 1], see
        :mod:`train.metrics`) and ``images`` (all processes).

    Raises:
        zoo.ZooError: What ``batches`` or ``forward`` raise (an unreadable image, a bad
            option); with ``sync``, an error on another process.
    """
    from .metrics import ClassificationMetrics, SegmentationMetrics  # torchmetrics: train extra

    segmentation = task == "segmentation"
    metrics = (
        SegmentationMetrics(num_classes, device=device, sync=sync)
        if segmentation
        else ClassificationMetrics(num_classes, per_class=per_class, sync=sync, device=device)
    )
    ignore = IGNORE_INDEX if segmentation else -100  # -100: F.cross_entropy's default
    loss_sum, labelled, images = torch.zeros((), device=device, dtype=torch.float64), 0, 0
    with all_or_none(device, sync):
        for inputs, targets in batches:
            inputs, targets = inputs.to(device), targets.to(device)
            scores = forward(inputs)  # (B, K) or (B, K, h, w)
            if loss:
                batch_loss = F.cross_entropy(
                    scores.float(), targets, ignore_index=ignore, reduction="sum"
                )
                if accelerator is not None:
                    batch_loss = accelerator.reduce(batch_loss, "sum")
                loss_sum += batch_loss.double()
            outputs = predictions(scores, targets.shape[-2:]) if segmentation else scores.float()
            if accelerator is not None:
                outputs, targets = accelerator.gather_for_metrics((outputs, targets))
            metrics.update(outputs, targets)
            if loss:
                labelled += int((targets != ignore).sum()) if segmentation else len(targets)
            images += len(targets)
    loss_total, labelled_total, images_total = _summed(loss_sum, labelled, images, sync)
    mean_loss = {"val_loss": loss_total / max(labelled_total, 1)} if loss else {}
    return {**mean_loss, **metrics.compute(), "images": int(images_total)}


def predictions(scores: Tensor, size: Sequence[int]) -> Tensor:
    """``(B, K, h, w)`` scores → ``(B, H, W)`` class indices at ``size`` = ``(H, W)``: the
    argmax, after a bilinear resize (:func:`zoo.pipeline.argmax_at`) where ``(h, w)`` differs.
    """
    if tuple(scores.shape[-2:]) == tuple(size):
        return scores.argmax(1)
    height, width = size
    return torch.stack([zoo.pipeline.argmax_at(item, (height, width)) for item in scores]).long()


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


def _summed(loss_sum: Tensor, labelled: int, images: int, sync: bool) -> list[float]:
    """``[loss_sum, labelled, images]`` in float64, summed over all processes (when ``sync``)."""
    totals = torch.stack([loss_sum, loss_sum.new_tensor(labelled), loss_sum.new_tensor(images)])
    if sync:
        import torch.distributed as dist

        dist.all_reduce(totals)
    return cast(list[float], totals.tolist())


# -- the trainer ------------------------------------------------------------------------------
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    task: str,
    num_classes: int,
    accelerator: Any = None,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Validation loss and metrics of ``model`` over ``loader`` (gathered across processes).

    Returns:
        ``{"val_loss", "top1", "top5"}`` or ``{"val_loss", "mIoU", "mAcc", "pixel_acc",
        "per_class_iou", "per_class_acc", "confusion_matrix"}``; accuracies and IoUs are
        fractions in [0, 1];
        the confusion matrix counts pixels, rows = ground truth, columns = prediction.
    """
    model.eval()
    device = next(model.parameters()).device

    def forward(images: Tensor) -> Tensor:
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
            return model(images)  # (B, K) or (B, K, H, W)

    scores = score_batches(forward, loader, task, num_classes, device, accelerator=accelerator)
    del scores["images"]
    return scores


# -- python -m train.validate -----------------------------------------------------------------
class ForwardTimer:
    """Times every call of ``model`` while active (a context manager): the wall-clock time of
    its forward pass alone, inputs already on its device (the decoding, resizing, copying,
    argmax and metrics around it are left out; on a GPU, queued work is synchronised before
    and after each call), divided by the images in the call.

    With ``--mode slide`` or ``--tta flip`` one image takes several calls (windows, the mirror
    image), each timed on its own; the median is then per window or view, not per image.

    Args:
        model: The module whose calls are timed (forward hooks, removed on exit).
        enabled: False: a no-op (nothing timed, :meth:`median_ms` None).
    """

    def __init__(self, model: nn.Module, enabled: bool = True) -> None:
        self.model, self.enabled = model, enabled
        self.per_image_ms: list[float] = []  # one per call, in call order
        self._start = 0.0
        self._hooks: list[Any] = []

    def __enter__(self) -> ForwardTimer:
        if self.enabled:
            self._hooks = [self.model.register_forward_pre_hook(self._before),
                           self.model.register_forward_hook(self._after)]  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _before(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        _synchronize(args)
        self._start = time.perf_counter()

    def _after(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        _synchronize(args)
        seconds = time.perf_counter() - self._start
        images = len(args[0]) if args and isinstance(args[0], Tensor) else 1
        self.per_image_ms.append(1000.0 * seconds / max(images, 1))

    def median_ms(self) -> float | None:
        """The median milliseconds per image over the calls, the first (cold: memory
        allocation, kernel selection) left out when at least two others remain; None when
        there was no call."""
        times = self.per_image_ms[1:] if len(self.per_image_ms) >= 3 else self.per_image_ms
        return statistics.median(times) if times else None


def _synchronize(args: tuple[Any, ...]) -> None:
    """Wait for the GPU work queued on the first argument's device (none on a CPU)."""
    if args and isinstance(args[0], Tensor) and args[0].is_cuda:
        torch.cuda.synchronize(args[0].device)


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
    """Evaluation at the original resolution (see :mod:`train.validate`).

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
    model.eval()
    device = torch.device(device)
    batches = segmentation_batches(dataset, resize, mean, std, batch_size, workers, device,
                                   progress)  # fmt: skip
    forward = model if mode == "whole" and tta is None else _segmenter(model, mode, tta)
    return score_batches(forward, batches, "segmentation", num_classes, device, loss=False,
                         sync=sync)  # fmt: skip


def _segmenter(model: nn.Module, mode: str, tta: str | None) -> Forward:
    """:func:`zoo.segment`'s sliding windows and flip TTA over resized, normalised inputs."""
    return partial(zoo.segment_logits, model, mode=mode, tta=tta, batch_size=4)


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

    Returns:
        :meth:`ClassificationMetrics.compute` with ``per_class`` (fractions), ``val_loss``
        and ``images`` (all processes).

    Raises:
        zoo.ZooError: An unreadable image (the message names the file); a bad ``tta``.
    """
    if tta not in (None, "flip"):
        raise zoo.ConfigError(f"--tta must be flip (or left out), got {tta!r}")
    model.eval()
    device = torch.device(device)
    cfg: dict[str, Any] = dict(cast(dict, model.pretrained_cfg))
    batches = classification_batches(dataset, cfg, batch_size, workers, device, progress)
    return score_batches(_classifier(model, tta), batches, "classification", num_classes,
                         device, per_class=True, sync=sync)  # fmt: skip


def _classifier(model: nn.Module, tta: str | None) -> Forward:
    """``(B, 3, S, S)`` → ``(B, K)`` float32 logits; with flip TTA the log of the mean
    probabilities of the image and its mirror image (their argmax and NLL are the average's).
    """

    def forward(images: Tensor) -> Tensor:
        logits = model(images).float()  # (B, K)
        if tta == "flip":
            probs = (logits.softmax(1) + model(images.flip(-1)).float().softmax(1)) / 2
            logits = probs.clamp(min=1e-12).log()
        return logits

    return forward
