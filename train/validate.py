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

Several models of one task (``--model A --model B ...``, see :mod:`train.compare`) are each
evaluated this way on the same split and printed as one table (name, parameters, metrics,
latency: the median milliseconds per image of the model's forward pass in that evaluation,
images); ``--plot PNG`` draws the main metric against that latency, ``--out`` writes a list.

Exit codes: 0 done, 2 bad model name, checkpoint, data set or option (one line on stderr);
comparing, 2 when any model failed (its row says why) or the models' tasks differ.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import zoo

from .data import DataError, parse_spec
from .eval_data import SharedSamples, limited, load_model, open_split, resolve_device, shard_for
from .evaluation import ForwardTimer, evaluate_classification, evaluate_segmentation
from .published import published_comparison
from .report import classification_summary, report, segmentation_summary, write_json

#: Segmentation inference modes, as :func:`zoo.segment` takes them.
MODES = ("whole", "slide", "auto")


# -- the whole evaluation ---------------------------------------------------------------------
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
    *,
    profile: bool = False,
    shared: SharedSamples | None = None,
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
            :func:`train.eval_data.open_split`).
        profile: Also report ``params`` (the model's parameter count), ``latency_ms``,
            ``device`` and ``batch_size`` (see :class:`train.evaluation.ForwardTimer`: the
            median milliseconds per image of the model's forward calls in this evaluation, on
            ``device``, in batches of up to ``batch_size``).
        shared: Samples decoded once for several models (:class:`train.eval_data.SharedSamples`);
            None decodes them here.

    Returns:
        Segmentation: ``aAcc``, ``mIoU``, ``mAcc`` (percent), ``per_class`` (``[{"class",
        "IoU", "Acc"}, ...]``, percent or None where undefined), ``confusion_matrix`` (pixel
        counts, rows = ground truth). Classification: ``top1``, ``top5``, ``per_class``
        (``[{"class", "Acc"}, ...]``, percent), ``confusion_matrix`` (image counts) and
        ``val_loss``. Both: ``model``, ``data``, ``split``, ``images``, ``mode``, ``tta``
        and, when the data set is the one the weights' metric was measured on,
        ``published_<metric>`` and ``<metric>_difference`` (ours − published). With
        ``profile``, ``params``, ``latency_ms``, ``device`` and ``batch_size``.

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
    dataset = shard.of(limited(splits.train if split == "train" else splits.val, limit))
    if shared is not None:
        dataset = shared.samples(dataset, workers)
    model.to(shard.device)
    timer = ForwardTimer(model, enabled=profile)
    head = {"model": model_name, "data": data, "split": split, "mode": mode, "tta": tta}
    common: dict[str, Any] = dict(device=shard.device, batch_size=batch_size, workers=workers,
                                  progress=progress and shard.rank == 0, tta=tta,
                                  sync=shard.world > 1)  # fmt: skip
    if info.task != "segmentation":
        with timer:
            scores = evaluate_classification(model, dataset, num_classes, **common)
        result = {**head, **classification_summary(scores, splits.classes)}
    else:
        resize = info.resize_policy()  # the policy zoo.segment applies
        with timer:
            scores = evaluate_segmentation(model, dataset, num_classes, resize, info.mean,
                                           info.std, mode=mode, **common)  # fmt: skip
        policy = {"mode": resize.mode, "size": list(resize.size)}
        result = {**head, "test_resize": policy,
                  **segmentation_summary(scores, splits.classes)}  # fmt: skip
    if limit is None:  # a subset is not the published measurement
        result.update(published_comparison(result, info, parse_spec(data)[0], split, num_classes))
    if profile:
        params = sum(p.numel() for p in model.parameters())
        result.update(params=params, latency_ms=timer.median_ms(), device=str(shard.device),
                      batch_size=batch_size)  # fmt: skip
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
    p.add_argument(
        "--model",
        required=True,
        action="append",
        help="registry tag, local-dir:PATH or hf-hub:org/name; repeat it to compare models of "
        "one task on the same data (one table, see --plot)",
    )
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
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="compare: draw the main metric (mIoU or top-1) against the latency (median ms per "
        "image of the model's forward pass), one point per --model",
    )
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
    outputs = (("--out", args.out), ("--confusion-matrix", args.confusion_matrix),
               ("--plot", args.plot))  # fmt: skip
    for option, path in outputs:
        if path and Path(path).is_dir():
            return _fail(f"error: {option} {path} is a directory; name a file")
    if len(args.model) > 1 or args.plot:
        from .compare import run

        return run(args)
    try:
        result = validate(
            args.model[0],
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
    finally:
        _leave_process_group()
    if os.environ.get("RANK", "0") != "0":  # under torchrun: one report, from rank 0
        return 0
    print(report(result))
    return _write_outputs(result, args.out, args.confusion_matrix)


def _leave_process_group() -> None:
    """Shut torch.distributed down once the last collective is done (every rank), rather than
    at interpreter exit, where a live gloo group could abort the process under load."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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
