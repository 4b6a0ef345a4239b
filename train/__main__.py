"""Command line: ``python -m train --model NAME --data FORMAT:PATH [...]``.

``--recipe NAME`` takes a paper's settings (e.g. ``he2016_cifar``); flags given on the
command line win over the recipe's values, which win over the TrainConfig defaults.

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
from .recipes import recipe_help

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
    "recipe": f"named recipe, overridden by explicit flags: {recipe_help()}",
    "train_steps": "total optimizer updates (instead of --epochs)",
    "decay_milestones": "multistep: optimizer updates after which lr is multiplied by 0.1",
    "pad_crop": "classification: pad N black pixels per side, random crop (instead of --scale)",
}
#: Fields the command line sets itself (not flags).
NOT_FLAGS = ("explicit_fields",)
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
    "recipe": str,
    "train_steps": int,
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


def parser(suppress: bool = False) -> argparse.ArgumentParser:
    """One option per :class:`TrainConfig` field (``--batch-size``, ``--amp bf16``, ...).

    Args:
        suppress: Leave options not given out of the parsed namespace (no defaults), to see
            which flags the command line set.
    """
    p = argparse.ArgumentParser(
        prog="python -m train",
        description=__doc__,
        epilog=_augment_table(),
        formatter_class=Formatter,
        argument_default=argparse.SUPPRESS if suppress else None,
    )
    for f in fields(TrainConfig):
        if f.name not in NOT_FLAGS:
            _add_option(p, f, argparse.SUPPRESS if suppress else None)
    return p


def _add_option(p: argparse.ArgumentParser, f: Any, default: Any) -> None:
    """The option of field ``f``; ``default`` (SUPPRESS) replaces the field's default."""
    flag, help_ = "--" + f.name.replace("_", "-"), HELP.get(f.name)

    def given(value: Any) -> Any:
        return value if default is None else default

    if f.default is MISSING and f.name != "model_kwargs":
        p.add_argument(flag, required=True, help=help_)
    elif isinstance(f.default, bool):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=given(f.default))
    elif f.name == "scale":
        p.add_argument(flag, type=float, nargs=2, metavar=("LOW", "HIGH"), help=help_)
    elif f.name == "decay_milestones":
        p.add_argument(flag, type=int, nargs="+", metavar="UPDATES", help=help_)
    elif f.name == "model_kwargs":
        p.add_argument(flag, type=_key_value, nargs="*", default=given([]), help=help_)
    else:
        kind = OPTIONAL_TYPES.get(f.name) or type(f.default)
        p.add_argument(flag, type=kind, default=given(f.default), help=help_)


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    """The run's config from the command line: explicit flags, then the recipe's values,
    then the TrainConfig defaults.

    The arguments are parsed twice: once with the defaults, once without them, which tells
    the flags given (they win over the recipe even where equal to a default).

    Raises:
        SystemExit: Bad usage (argparse, exit 2), ``--help``.
        zoo.ConfigError: Unknown recipe, values no run can use.
    """
    args = vars(parser().parse_args(argv))
    given = vars(parser(suppress=True).parse_args(argv))
    args["model_kwargs"] = dict(args["model_kwargs"])
    if args["decay_milestones"] is not None:
        args["decay_milestones"] = tuple(args["decay_milestones"])
    return TrainConfig(**args, explicit_fields=tuple(given))


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in the option help; the description and epilog keep their line breaks."""


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)  # usage errors and --help first
    message = missing_extra()
    if message:  # after parsing, so that --help works with the core install alone
        print(f"error: {message}", file=sys.stderr)
        return 2
    try:
        config = config_from_args(argv)
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
