"""The training loop: ``fit(config)`` prepares a run, then for each epoch trains (one step per
batch), evaluates, records; at the end it reports and optionally pushes the best model.

accelerate handles devices, mixed precision, gradient accumulation and DDP; what a run writes
lives in :mod:`train.outputs`, how its parts are built in :mod:`train.build`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

import zoo

from .build import (
    build_loaders,
    create_model,
    create_optimizer,
    create_scheduler,
    image_size,
    resolve_amp,
    seed_epoch,
)
from .config import TrainConfig
from .data import IGNORE_INDEX, DataSplits, build_data
from .evaluation import evaluate
from .outputs import (
    export_best,
    format_row,
    load_checkpoint,
    push_best,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_confusion_matrix,
    write_csv,
)
from .report import class_table


class TrainStep(nn.Module):
    """The model plus its loss, so DDP wraps one forward: ``(images, targets) → (logits, loss)``.

    Segmentation models with an auxiliary head add ``aux_weight × CE(aux)`` in training.
    """

    def __init__(self, model: nn.Module, task: str, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model: Any = model  # a zoo model (forward_with_aux, aux_weight where it has aux_head)
        self.task, self.label_smoothing = task, label_smoothing

    def forward(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        if self.task == "segmentation":
            aux: Tensor | None = None
            if self.training and getattr(self.model, "aux_head", None) is not None:
                logits, aux = self.model.forward_with_aux(images, aux=True)  # (B, K, H, W) each
            else:  # also models with no auxiliary head at all (mediapipe_selfie)
                logits = self.model(images)  # (B, K, H, W)
            loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX)
            if aux is not None:
                aux_loss = F.cross_entropy(aux.float(), targets, ignore_index=IGNORE_INDEX)
                loss = loss + self.model.aux_weight * aux_loss
            return logits, loss
        logits = self.model(images)  # (B, K)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)
        return logits, loss


@dataclass
class FitResult:
    """What a run produced."""

    output: Path
    best_dir: Path
    best_metric: str
    best_value: float
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    pushed_url: str | None = None
    push_error: str | None = None


def primary_metric(task: str) -> str:
    """The validation metric that picks the best epoch."""
    return "mIoU" if task == "segmentation" else "top1"


@dataclass
class Run:
    """Everything a run holds between epochs (what ``last.pt`` saves)."""

    config: TrainConfig
    accelerator: Any
    data: DataSplits
    task: str
    model: nn.Module  # the zoo model (unwrapped)
    step_module: nn.Module  # TrainStep, prepared (DDP/AMP) by accelerate
    optimizer: Any
    scheduler: Any
    ema: Any
    train_loader: DataLoader
    val_loader: DataLoader
    size: int = 224  # training crop and validation size (train.build.image_size)
    epochs: int = 1  # TrainConfig.run_epochs: train_steps over updates per epoch, or epochs
    start_epoch: int = 0
    num_updates: int = 0
    best: float = float("-inf")
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return Path(self.config.output)

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are validated and exported: the EMA when enabled."""
        return self.ema.module if self.ema is not None else self.model

    def state(self, epoch: int) -> dict[str, Any]:
        scaler = self.accelerator.scaler
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "epoch": epoch,
            "num_updates": self.num_updates,
            "best": self.best,
            "history": self.history,
            "rng": rng_state(),
            "config": self.config.to_dict(),
        }

    def resume(self, path: str) -> None:
        """Continue from a checkpoint of the same model (raises zoo.CheckpointError if not)."""
        state = load_checkpoint(path)
        if (state.get("config") or {}).get("model") != self.config.model:
            raise zoo.CheckpointError(
                f"{path} is a checkpoint of {(state.get('config') or {}).get('model')!r}, not "
                f"{self.config.model!r}"
            )
        try:
            self._restore(state)
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise zoo.CheckpointError(
                f"{path} does not fit this run (another data set, class count, optimizer or "
                f"zoo version?): {type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from exc
        self.accelerator.print(f"Resumed from {path} after epoch {state['epoch']}.")

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        parts = (
            (self.scheduler, "scheduler"),
            (self.accelerator.scaler, "scaler"),
            (self.ema, "ema"),
        )
        for part, saved in parts:
            if part is not None and state.get(saved):
                part.load_state_dict(state[saved])
        self.start_epoch, self.num_updates = state["epoch"] + 1, state["num_updates"]
        self.best, self.history = state["best"], state["history"]
        set_rng_state(state["rng"])


def prepare_run(config: TrainConfig) -> Run:
    """Build the run (accelerator, data, model, optimizer, schedule, EMA) before its first epoch."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DataLoaderConfiguration

    # A notebook may call fit() again with other precision/accumulation settings; accelerate
    # keeps them in a process-wide singleton, so start from a clean one (the distributed set-up,
    # PartialState, is kept).
    output = Path(config.output)
    if any(p.exists() and not p.is_dir() for p in (output, *output.parents)):
        raise zoo.ConfigError(f"--output {output}: a file is in the way of this run directory")
    AcceleratorState._reset_state()
    amp, warning = resolve_amp(config.amp, PartialState().device)
    if warning and PartialState().is_main_process:
        print(warning, file=sys.stderr)
    accelerator = Accelerator(
        mixed_precision=amp,
        gradient_accumulation_steps=config.grad_accum,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )
    seed_epoch(config.seed, 0)
    model: Any
    model, task = create_model(config)
    data = build_data(config.data, task, config.seed, config.num_classes)
    if model.num_classes != len(data.classes):
        model.reset_classifier(len(data.classes))
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_loader, val_loader = build_loaders(config, data, model)
    optimizer = create_optimizer(config, model)
    step_module: nn.Module = TrainStep(model, task, config.label_smoothing)
    if config.compile:
        step_module = torch.compile(step_module)  # type: ignore[assignment]
    prepared = accelerator.prepare(step_module, optimizer, train_loader, val_loader)
    steps = updates_per_epoch(config, len(prepared[2]))  # this process's share of the batches
    scheduler = create_scheduler(config, optimizer, steps)
    ema = None
    if config.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=config.ema_decay)
    return Run(config=config, accelerator=accelerator, data=data, task=task, model=model,
               step_module=prepared[0], optimizer=prepared[1], scheduler=scheduler, ema=ema,
               train_loader=prepared[2], val_loader=prepared[3],
               size=image_size(config, model, data), epochs=config.run_epochs(steps))  # fmt: skip


def updates_per_epoch(config: TrainConfig, batches: int) -> int:
    """Optimizer updates in an epoch of ``batches`` batches: one per ``grad_accum`` batches,
    and one on the epoch's last batch (accelerate syncs there), capped at
    ``max_steps_per_epoch``; at least 1."""
    updates = math.ceil(batches / config.grad_accum)
    return max(1, min(updates, config.max_steps_per_epoch or updates))


def steps_left(run: Run, start_updates: int) -> bool:
    """Whether this epoch, begun at ``start_updates``, may take another optimizer update
    (``max_steps_per_epoch``, ``train_steps``)."""
    config = run.config
    if config.max_steps_per_epoch and run.num_updates - start_updates >= config.max_steps_per_epoch:
        return False
    return not (config.train_steps and run.num_updates >= config.train_steps)


def _progress(iterable: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)


def train_step(run: Run, images: Tensor, targets: Tensor) -> Tensor:
    """Forward, backward, (clip,) optimizer step for one batch; returns the batch loss."""
    config, accelerator = run.config, run.accelerator
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with accelerator.accumulate(run.step_module):
        _, loss = run.step_module(images, targets)
        accelerator.backward(loss)
        if accelerator.sync_gradients and config.clip_grad:
            accelerator.clip_grad_norm_(run.step_module.parameters(), config.clip_grad)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    if accelerator.sync_gradients:
        run.num_updates += 1
        if run.scheduler is not None:
            run.scheduler.step_update(num_updates=run.num_updates)
        if run.ema is not None:
            run.ema.update(run.model, step=run.num_updates)
    return loss.detach()


def train_epoch(run: Run, epoch: int) -> float:
    """One pass over the training data; returns the mean training loss (all processes)."""
    config, accelerator = run.config, run.accelerator
    seed_epoch(config.seed, epoch)
    run.train_loader.set_epoch(epoch)  # type: ignore[attr-defined]
    run.step_module.train()
    loss_sum, seen, start_updates = torch.zeros((), device=accelerator.device), 0, run.num_updates
    show = config.progress and accelerator.is_main_process
    for images, targets in _progress(run.train_loader, show, f"epoch {epoch}"):
        if not steps_left(run, start_updates):
            break
        loss = train_step(run, images, targets)
        loss_sum += loss.float() * len(images)
        seen += len(images)
    if run.scheduler is not None:
        run.scheduler.step(epoch + 1)
    total = accelerator.reduce(torch.tensor(float(seen), device=accelerator.device), "sum")
    return float(accelerator.reduce(loss_sum, "sum")) / max(float(total), 1.0)


def _record(
    run: Run, epoch: int, row: dict[str, Any], writer: Any, matrix: list[list[int]] | None
) -> None:
    """Main process: CSV, TensorBoard, confusion matrix, best-model export, then the
    checkpoint."""
    write_csv(run.history, run.output / "metrics.csv")
    if writer is not None:
        for key, value in row.items():
            if isinstance(value, float):
                writer.add_scalar(key, value, epoch)
    if matrix is not None:
        write_confusion_matrix(matrix, run.data.classes, run.output / "confusion_matrix.csv")
    score = row[primary_metric(run.task)]
    if score > run.best:
        run.best = score
        export_best(run.eval_model, run.output / "best", run.data.classes, run.data.palette,
                    run.data.name, row, run.size)  # fmt: skip
    save_checkpoint(run.state(epoch), run.output / "last.pt")


def fit(config: TrainConfig) -> FitResult:
    """Train ``config.model`` on ``config.data``; validate every epoch; keep the best.

    The run lasts ``config.epochs`` epochs or, with ``config.train_steps``, exactly that many
    optimizer updates (ceil(train_steps / updates per epoch) epochs, the last one cut short).

    Writes to ``config.output``: ``last.pt`` (atomic checkpoint each epoch), ``metrics.csv``,
    TensorBoard logs when TensorBoard is installed, and ``best/`` (``zoo.save_pretrained``
    of the best epoch, loadable with ``zoo.create_model("local-dir:.../best")``).

    Raises:
        zoo.ZooError: Bad data (``DataError``, naming the file), configuration, model name or
            weights, or a ``config.resume`` checkpoint that is unreadable or from another model.
    """
    run = prepare_run(config)
    if config.resume:
        run.resume(config.resume)
    main = run.accelerator.is_main_process
    writer = _tensorboard(run.output) if main else None
    for epoch in range(run.start_epoch, run.epochs):
        if config.train_steps and run.num_updates >= config.train_steps:
            break  # a resumed run that had finished, or more updates per epoch than counted
        started = time.perf_counter()
        train_loss = train_epoch(run, epoch)
        metrics = evaluate(run.eval_model, run.val_loader, run.task, len(run.data.classes),
                           run.accelerator, config.channels_last)  # fmt: skip
        matrix = metrics.pop("confusion_matrix", None)  # to its CSV; not K² counts per epoch
        row = {"epoch": epoch, "train_loss": train_loss, "lr": run.optimizer.param_groups[0]["lr"],
               "seconds": time.perf_counter() - started, **metrics}  # fmt: skip
        run.history.append(row)
        run.accelerator.print(format_row(epoch, row, run.task))
        if main:
            _record(run, epoch, row, writer, matrix)
        run.accelerator.wait_for_everyone()
    return _finish(run)


def _finish(run: Run) -> FitResult:
    metric = primary_metric(run.task)
    if run.task == "segmentation" and run.history:
        ious = {"IoU": run.history[-1]["per_class_iou"]}
        table = class_table(run.data.classes, ious, framed=False)
        run.accelerator.print(f"per-class IoU (last epoch):\n{table}")
    finite = [r for r in run.history if math.isfinite(r[metric])]
    if run.history and not finite and run.best == float("-inf"):
        raise zoo.ConfigError(
            f"validation {metric} was NaN in every epoch, so no best model was saved: the "
            "training diverged (try a lower --lr) or the validation split has no labelled pixels"
        )
    best = max(finite, key=lambda r: r[metric]) if finite else {metric: 0.0, "epoch": -1}
    result = FitResult(output=run.output, best_dir=run.output / "best", best_metric=metric,
                       best_value=float(best[metric]), best_epoch=int(best["epoch"]),
                       history=run.history)  # fmt: skip
    if run.config.push_to_hub and run.accelerator.is_main_process:
        _push(result, run.config.push_to_hub)
    run.accelerator.end_training()
    return result


def _tensorboard(output: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(output / "tensorboard"))


def _push(result: FitResult, repo_id: str) -> None:
    try:
        result.pushed_url = push_best(result.best_dir, repo_id)
        print(f"Pushed the best model to {repo_id}: {result.pushed_url}")
    except Exception as exc:  # the run is saved; say how to retry whatever went wrong
        result.push_error = f"{type(exc).__name__}: {exc}"
        print(
            f"Push to {repo_id} failed ({result.push_error}). The run is intact in "
            f"{result.output}; retry with: python -m train.push {result.best_dir} {repo_id}"
        )
