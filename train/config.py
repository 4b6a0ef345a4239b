"""The training run's configuration: one frozen dataclass, filled from the CLI or a notebook."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from typing import Any

import zoo

AMP_MODES = ("auto", "no", "bf16", "fp16")
SCHEDULES = ("cosine", "poly", "step", "multistep", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; defaults follow timm's and torchvision's references.

    Attributes:
        model: Zoo/timm model name (``resnet20_cifar``, ``deeplabv3_tf_efficientnet_lite0``,
            ``hf-hub:org/name``, ``local-dir:path``).
        data: ``imagefolder:PATH``, ``cifar10:PATH``, ``voc:PATH``, ``cityscapes:PATH``,
            ``ade20k:PATH``, ``masks:PATH`` or ``digits``.
        output: Run directory (checkpoints, metrics.csv, best/).
        recipe: A named recipe (:data:`train.recipes.RECIPES`, e.g. ``he2016_cifar``) whose
            settings fill the fields left at their defaults; see :meth:`from_recipe`.
        num_classes: Output classes (default: the data set's).
        pretrained: Start from the model's pretrained weights.
        pretrained_backbone: Segmentation: start from the backbone's ImageNet weights.
        epochs: Training epochs (leave it at its default when ``train_steps`` is set).
        train_steps: Total optimizer updates. When set, the run lasts
            ceil(train_steps / updates per epoch) epochs and stops after exactly
            ``train_steps`` updates (also across ``resume``); schedules span ``train_steps``.
        batch_size: Images per step per process.
        eval_batch_size: Validation batch size (default: ``batch_size``).
        image_size: Training crop / validation size in pixels (default: the model's cfg).
        opt: timm optimizer name (``sgd`` — Nesterov in timm —, ``momentum`` — plain SGD with
            momentum —, ``adamw``, ...).
        lr: Peak learning rate.
        momentum: SGD momentum.
        weight_decay: Weight decay (not applied to biases and norms).
        sched: ``cosine``, ``poly`` (power 0.9), ``step``, ``multistep`` (lr × 0.1 at each
            of ``decay_milestones``) or ``none``.
        decay_milestones: ``multistep``: optimizer-update counts after which the lr is
            multiplied by 0.1 (strictly increasing, positive): with ``(32000, 48000)`` the
            first 32,000 updates use ``lr``, the next 16,000 ``lr / 10``, the rest ``lr / 100``.
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
        pad_crop: Classification: when > 0, training augmentation is "resize to
            ``image_size`` if needed, pad ``pad_crop`` black pixels on each side, random crop
            of ``image_size``, horizontal flip with probability ``hflip``" instead of the
            random-resized crop (``scale`` then must be unset). 0: off.
        color_jitter: Brightness/contrast/saturation jitter strength (0: off).
        workers: DataLoader worker processes.
        seed: Random seed (runs are deterministic on CPU for a given seed).
        resume: Checkpoint to continue from (``last.pt`` or the run directory).
        push_to_hub: ``org/name`` to push the best model to at the end.
        max_steps_per_epoch: Cap on optimizer steps per epoch (benchmarks, smoke runs).
        progress: Show progress bars.
        model_kwargs: More architecture arguments, e.g. ``{"backbone": "convnext_tiny"}``
            (CLI: ``--model-kwargs backbone=convnext_tiny output_stride=16``).
        explicit_fields: Fields given explicitly: they keep their value over the recipe's even
            where it equals the TrainConfig default (the CLI and :meth:`from_recipe` fill it).
    """

    model: str
    data: str
    output: str = "runs/exp"
    recipe: str | None = None
    num_classes: int | None = None
    pretrained: bool = False
    pretrained_backbone: bool = False
    epochs: int = 10
    train_steps: int | None = None
    batch_size: int = 16
    eval_batch_size: int | None = None
    image_size: int | None = None
    opt: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    sched: str = "cosine"
    decay_milestones: tuple[int, ...] | None = None
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
    pad_crop: int = 0
    color_jitter: float = 0.0
    workers: int = 0
    seed: int = 0
    resume: str | None = None
    push_to_hub: str | None = None
    max_steps_per_epoch: int | None = None
    progress: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    explicit_fields: tuple[str, ...] = ()

    @classmethod
    def from_recipe(cls, name: str, **overrides: Any) -> TrainConfig:
        """The recipe ``name``'s settings, overridden by every keyword given — even one equal
        to the TrainConfig default — then the defaults. This is what ``python -m train
        --recipe NAME [flags]`` builds from its flags.

        ``TrainConfig(recipe=NAME, ...)`` applies the recipe too, but a constructor cannot
        tell a keyword equal to its default from one not given: there, fields holding their
        default value take the recipe's (``batch_size=16`` becomes the recipe's 128).

        Raises:
            zoo.ConfigError: Unknown recipe, or a value no run can use.
        """
        from .recipes import apply_recipe

        given = (*overrides, "recipe")
        return cls(**apply_recipe(name, overrides), recipe=name, explicit_fields=given)

    def __post_init__(self) -> None:
        """Applies the recipe, then raises zoo.ConfigError for a value no run can use."""
        self._apply_recipe()
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
        self._check_length_and_schedule()
        self._check_augment()

    def _apply_recipe(self) -> None:
        """Fields holding their default (and not in ``explicit_fields``) take the recipe's
        value."""
        names = {f.name: f for f in fields(self)}
        unknown = sorted(set(self.explicit_fields) - set(names))
        if unknown:
            raise zoo.ConfigError(f"explicit_fields names no TrainConfig field: {unknown}")
        object.__setattr__(self, "explicit_fields", tuple(sorted(set(self.explicit_fields))))
        if self.recipe is None:
            return
        from .recipes import get_recipe

        for name, value in get_recipe(self.recipe).settings.items():
            if name not in self.explicit_fields and getattr(self, name) == names[name].default:
                object.__setattr__(self, name, value)

    def _check_length_and_schedule(self) -> None:
        """train_steps, decay_milestones and the multistep schedule agree."""
        steps, milestones = self.train_steps, self.decay_milestones
        if steps is not None:
            if steps < 1:
                raise zoo.ConfigError(f"train_steps must be at least 1, got {steps}")
            if "epochs" in self.explicit_fields or self.epochs != _default("epochs"):
                from_recipe = self.recipe and "train_steps" not in self.explicit_fields
                source = f" (from recipe {self.recipe})" if from_recipe else ""
                raise zoo.ConfigError(
                    f"epochs {self.epochs} and train_steps {steps}{source} both set the run's "
                    "length; give one (--train-steps counts optimizer updates)"
                )
        if milestones is None:
            if self.sched == "multistep":
                raise zoo.ConfigError(
                    "sched multistep needs decay_milestones (optimizer updates, e.g. "
                    "--decay-milestones 32000 48000)"
                )
            return
        if self.sched != "multistep":
            raise zoo.ConfigError(
                f"decay_milestones are for sched multistep, not {self.sched!r}; add "
                "--sched multistep or drop the milestones"
            )
        values = tuple(milestones) if isinstance(milestones, (list, tuple)) else ()
        integers = all(isinstance(m, int) and not isinstance(m, bool) for m in values)
        increasing = integers and all(a < b for a, b in itertools.pairwise((0, *values)))
        if not values or not increasing:
            raise zoo.ConfigError(
                f"decay_milestones must be strictly increasing positive integers (optimizer "
                f"updates), got {milestones}"
            )
        object.__setattr__(self, "decay_milestones", values)

    def _check_augment(self) -> None:
        if self.hflip is not None and not 0.0 <= self.hflip <= 1.0:
            raise zoo.ConfigError(f"hflip is a probability in [0, 1], got {self.hflip}")
        if self.scale is not None:
            low, high = self.scale
            if not (math.isfinite(high) and 0 < low <= high):
                raise zoo.ConfigError(
                    f"scale must be LOW HIGH with 0 < LOW <= HIGH, got {self.scale}"
                )
            object.__setattr__(self, "scale", (float(low), float(high)))
        if self.pad_crop and self.scale is not None:
            raise zoo.ConfigError(
                f"scale {self.scale} has no effect with pad_crop {self.pad_crop} (pad-and-crop "
                "replaces the random-resized crop); drop scale or set pad_crop 0"
            )

    def run_epochs(self, updates_per_epoch: int) -> int:
        """Epochs this run trains: ceil(train_steps / updates_per_epoch), else ``epochs``."""
        if self.train_steps is None:
            return self.epochs
        return math.ceil(self.train_steps / max(updates_per_epoch, 1))

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
            ("pad_crop", 0 <= self.pad_crop <= 4096, "0 to 4096 pixels"),
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


def _default(name: str) -> Any:
    """The TrainConfig default of field ``name``."""
    return next(f.default for f in fields(TrainConfig) if f.name == name)
