"""The training run's configuration: one frozen dataclass, filled from the CLI or a notebook."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import zoo

AMP_MODES = ("auto", "no", "bf16", "fp16")
SCHEDULES = ("cosine", "poly", "step", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; defaults follow timm's and torchvision's references.

    Attributes:
        model: Zoo/timm model name (``resnet20_cifar``, ``deeplabv3_tf_efficientnet_lite0``,
            ``hf-hub:org/name``, ``local-dir:path``).
        data: ``imagefolder:PATH``, ``cifar10:PATH``, ``voc:PATH``, ``cityscapes:PATH``,
            ``ade20k:PATH``, ``masks:PATH`` or ``digits``.
        output: Run directory (checkpoints, metrics.csv, best/).
        num_classes: Output classes (default: the data set's).
        pretrained: Start from the model's pretrained weights.
        pretrained_backbone: Segmentation: start from the backbone's ImageNet weights.
        epochs: Training epochs.
        batch_size: Images per step per process.
        eval_batch_size: Validation batch size (default: ``batch_size``).
        image_size: Training crop / validation size in pixels (default: the model's cfg).
        opt: timm optimizer name (``sgd``, ``adamw``, ...).
        lr: Peak learning rate.
        momentum: SGD momentum.
        weight_decay: Weight decay (not applied to biases and norms).
        sched: ``cosine``, ``poly`` (power 0.9), ``step`` or ``none``.
        warmup_epochs: Linear warm-up epochs.
        min_lr: Final learning rate.
        label_smoothing: Cross-entropy label smoothing (classification).
        amp: Mixed precision: ``auto`` (on CUDA bf16, or fp16 where the GPU has no bf16; off on
            a CPU, where it is usually much slower), ``no``, ``bf16`` or ``fp16``; see
            :func:`train.build.resolve_amp`.
        grad_accum: Gradient accumulation steps.
        clip_grad: Gradient-norm clipping (None: off).
        channels_last: Use channels-last memory format.
        compile: ``torch.compile`` the model.
        ema: Keep an exponential moving average of the weights (validated and exported).
        ema_decay: EMA decay per optimizer step.
        hflip: Horizontal-flip probability (default: the data format's, see
            :data:`train.data.AUGMENT_DEFAULTS`; 0 for digits, whose orientation matters).
        scale: Random-scale range (classification: RandomResizedCrop area; segmentation:
            resize factor). Default: the data format's, e.g. (0.08, 1.0) for image folders,
            (0.6, 1.0) for tiny images (digits, CIFAR-10), (0.5, 2.0) for segmentation.
        color_jitter: Brightness/contrast/saturation jitter strength (0: off).
        workers: DataLoader worker processes.
        seed: Random seed (runs are deterministic on CPU for a given seed).
        resume: Checkpoint to continue from (``last.pt`` or the run directory).
        push_to_hub: ``org/name`` to push the best model to at the end.
        max_steps_per_epoch: Cap on optimizer steps per epoch (benchmarks, smoke runs).
        progress: Show progress bars.
        model_kwargs: More architecture arguments, e.g. ``{"backbone": "convnext_tiny"}``
            (CLI: ``--model-kwargs backbone=convnext_tiny output_stride=16``).
    """

    model: str
    data: str
    output: str = "runs/exp"
    num_classes: int | None = None
    pretrained: bool = False
    pretrained_backbone: bool = False
    epochs: int = 10
    batch_size: int = 16
    eval_batch_size: int | None = None
    image_size: int | None = None
    opt: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    sched: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    label_smoothing: float = 0.0
    amp: str = "auto"
    grad_accum: int = 1
    clip_grad: float | None = None
    channels_last: bool = False
    compile: bool = False
    ema: bool = False
    ema_decay: float = 0.999
    hflip: float | None = None
    scale: tuple[float, float] | None = None
    color_jitter: float = 0.0
    workers: int = 0
    seed: int = 0
    resume: str | None = None
    push_to_hub: str | None = None
    max_steps_per_epoch: int | None = None
    progress: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Raises zoo.ConfigError for a value no run can use."""
        if self.amp not in AMP_MODES:
            raise zoo.ConfigError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.sched not in SCHEDULES:
            raise zoo.ConfigError(f"sched must be one of {SCHEDULES}, got {self.sched!r}")
        for name in ("epochs", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise zoo.ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_classes is not None and self.num_classes < 1:
            raise zoo.ConfigError(f"num_classes must be at least 1, got {self.num_classes}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise zoo.ConfigError(f"lr must be positive, got {self.lr}")
        self._check_ranges()
        if self.hflip is not None and not 0.0 <= self.hflip <= 1.0:
            raise zoo.ConfigError(f"hflip is a probability in [0, 1], got {self.hflip}")
        if self.scale is not None:
            low, high = self.scale
            if not (math.isfinite(high) and 0 < low <= high):
                raise zoo.ConfigError(
                    f"scale must be LOW HIGH with 0 < LOW <= HIGH, got {self.scale}"
                )
            object.__setattr__(self, "scale", (float(low), float(high)))

    def _check_ranges(self) -> None:
        from timm.optim import list_optimizers

        checks = [
            ("min_lr", 0 <= self.min_lr < math.inf, "a number ≥ 0"),
            ("momentum", 0 <= self.momentum < math.inf, "a number ≥ 0"),
            ("weight_decay", 0 <= self.weight_decay < math.inf, "a number ≥ 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("color_jitter", 0 <= self.color_jitter < math.inf, "a number ≥ 0"),
            ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
            ("warmup_epochs", self.warmup_epochs >= 0, "≥ 0"),
            ("workers", self.workers >= 0, "≥ 0"),
            ("seed", self.seed >= 0, "≥ 0"),
            ("eval_batch_size", self.eval_batch_size is None or self.eval_batch_size >= 1, "≥ 1"),
            ("image_size", self.image_size is None or 16 <= self.image_size <= 4096,
             "16 to 4096 pixels"),
            ("clip_grad", self.clip_grad is None or 0 < self.clip_grad < math.inf, "> 0"),
            ("max_steps_per_epoch", not self.max_steps_per_epoch or self.max_steps_per_epoch > 0,
             "> 0"),
        ]  # fmt: skip
        for name, ok, expected in checks:
            if not ok:
                raise zoo.ConfigError(f"{name} must be {expected}, got {getattr(self, name)}")
        if self.opt.lower() not in list_optimizers():
            raise zoo.ConfigError(
                f"Unknown optimizer {self.opt!r}; timm knows e.g. sgd, adamw, lamb."
            )
        reserved = {"pretrained", "num_classes", "pretrained_backbone"} & set(self.model_kwargs)
        if reserved:
            raise zoo.ConfigError(
                f"set {', '.join(sorted(reserved))} with its own option (--pretrained, "
                "--num-classes, --pretrained-backbone), not --model-kwargs"
            )
        repo = self.push_to_hub
        if repo is not None and (repo.count("/") != 1 or not all(repo.split("/"))):
            raise zoo.ConfigError(f"push_to_hub must look like 'org/name', got {repo!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
