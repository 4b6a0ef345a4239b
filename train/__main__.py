"""Command line: ``python -m train --model NAME --data FORMAT:PATH [...]``.

Works the same under ``accelerate launch -m train ...`` and ``torchrun -m train ...``.
Exit codes: 0 done, 2 bad data/configuration/checkpoint, 3 trained but the Hub push failed.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from dataclasses import MISSING, fields
from typing import Any

import zoo

from . import missing_extra
from .config import AMP_MODES, SCHEDULES, TrainConfig
from .data import AUGMENT_DEFAULTS, DataError

HELP = {
    "model": "zoo/timm model name, hf-hub:org/name or local-dir:path",
    "data": "imagefolder:PATH, cifar10:PATH, voc:PATH, cityscapes:PATH, ade20k:PATH, "
    "masks:PATH or digits",
    "amp": f"mixed precision: {', '.join(AMP_MODES)}",
    "sched": f"learning-rate schedule: {', '.join(SCHEDULES)}",
    "resume": "checkpoint (last.pt) or run directory to continue",
    "push_to_hub": "org/name to push the best model to",
    "scale": "random scale range LOW HIGH (default: per data format, see below)",
    "hflip": "horizontal-flip probability (default: per data format, see below)",
    "model_kwargs": "architecture arguments: key=value ...",
}
# Options whose default is None, with the type of their value.
OPTIONAL_TYPES: dict[str, type] = {
    "num_classes": int,
    "hflip": float,
    "eval_batch_size": int,
    "image_size": int,
    "clip_grad": float,
    "resume": str,
    "push_to_hub": str,
    "max_steps_per_epoch": int,
}


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string such as backbone=convnext_tiny


def _augment_table() -> str:
    rows = [f"  {kind:<12} {task:<15} hflip {a.hflip:<4} scale {a.scale[0]}–{a.scale[1]}"
            for (kind, task), a in AUGMENT_DEFAULTS.items()]  # fmt: skip
    return "augmentation defaults per data format:\n" + "\n".join(rows)


def parser() -> argparse.ArgumentParser:
    """One option per :class:`TrainConfig` field (``--batch-size``, ``--amp bf16``, ...)."""
    p = argparse.ArgumentParser(
        prog="python -m train",
        description=__doc__,
        epilog=_augment_table(),
        formatter_class=Formatter,
    )
    for f in fields(TrainConfig):
        flag, help_ = "--" + f.name.replace("_", "-"), HELP.get(f.name)
        if f.default is MISSING and f.name != "model_kwargs":
            p.add_argument(flag, required=True, help=help_)
        elif isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        elif f.name == "scale":
            p.add_argument(flag, type=float, nargs=2, metavar=("LOW", "HIGH"), help=help_)
        elif f.name == "model_kwargs":
            p.add_argument(flag, type=_key_value, nargs="*", default=[], help=help_)
        else:
            kind = OPTIONAL_TYPES.get(f.name) or type(f.default)
            p.add_argument(flag, type=kind, default=f.default, help=help_)
    return p


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in the option help; the description and epilog keep their line breaks."""


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    message = missing_extra()
    if message:  # after parsing, so that --help works with the core install alone
        print(f"error: {message}", file=sys.stderr)
        return 2
    args["model_kwargs"] = dict(args["model_kwargs"])
    try:
        config = TrainConfig(**args)
        from .loop import fit

        result = fit(config)
    except zoo.ZooError as exc:  # data, configuration, model, weights and checkpoint errors
        kind = "data error" if isinstance(exc, DataError) else "error"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # one summary line under accelerate/torchrun
        return 3 if result.push_error else 0
    print(
        f"best {result.best_metric} {result.best_value:.4f} at epoch {result.best_epoch}; "
        f"model in {result.best_dir}"
    )
    return 3 if result.push_error else 0


if __name__ == "__main__":
    sys.exit(main())
