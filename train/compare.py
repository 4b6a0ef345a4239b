"""Several models on the same data and split: ``python -m train.validate --model A --model B
... --data LAYOUT:PATH [--plot PNG] [--out JSON]``.

Each model is evaluated by :func:`train.validate.validate` exactly as it would be alone; the
split's samples are decoded once and shared where they fit in memory
(:class:`train.eval_data.SharedSamples`). Its latency is the median milliseconds per image of
its forward calls during that evaluation (:class:`train.evaluation.ForwardTimer`). A model
that cannot be evaluated (unknown name, no weights, a class count that is not the data's)
gets a row saying why and the others still run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import zoo

from .data import DataError
from .eval_data import SharedSamples
from .report import comparison_table, write_json
from .validate import _check_options, _fail, _leave_process_group, validate


def compare(
    models: Sequence[str],
    data: str,
    split: str = "val",
    shared: SharedSamples | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Evaluate each of ``models`` on the ``split`` of ``data``.

    Args:
        models: Model names (registry tags, ``local-dir:PATH``, ``hf-hub:org/name``), all of
            one task.
        data: ``FORMAT:PATH``.
        split: ``"val"`` or ``"train"``.
        shared: Where the decoded samples are kept for the next model (default: a new
            :class:`train.eval_data.SharedSamples`).
        **options: The rest of :func:`train.validate.validate`'s arguments (``batch_size``,
            ``device``, ``limit``, ``workers``, ``mode``, ``tta``, ``seed``, ...).

    Returns:
        One dict per model, in order: :func:`train.validate.validate`'s result with
        ``params``, ``latency_ms`` (median ms per image of its forward pass), ``device`` and
        ``batch_size``;
        or, for a model that could not be evaluated, ``{"model", "error"}`` (one line).

    Raises:
        zoo.ConfigError: Models of different tasks, or an option none of them takes (nothing
            is evaluated).
    """
    task = check_one_task(models)
    if task is not None:  # the same options for all: one error, not one per model
        batch_size = options.get("batch_size")
        if batch_size is None:
            batch_size = 1 if task == "segmentation" else 32
        _check_options(batch_size, options.get("limit"),
                       options.get("workers", 0), options.get("mode", "whole"),
                       options.get("tta"), task)  # fmt: skip
    shared = SharedSamples() if shared is None else shared
    results: list[dict[str, Any]] = []
    for name in models:
        try:
            result = validate(name, data, split, profile=True, shared=shared, **options)
        except zoo.ZooError as exc:
            kind = "data error" if isinstance(exc, DataError) else "error"
            results.append({"model": name, "error": f"{kind}: {' '.join(str(exc).split())}"})
            continue
        results.append(result)
    return results


def check_one_task(models: Sequence[str]) -> str | None:
    """The task of the known ``models`` (None if none is known; an unknown name is left to
    its own row).

    Raises:
        zoo.ConfigError: Models of different tasks.
    """
    tasks: dict[str, str] = {}
    for name in models:
        try:
            tasks[name] = zoo.model_info(name).task
        except zoo.ZooError:
            continue
    if len(set(tasks.values())) > 1:
        named = ", ".join(f"{name} ({task})" for name, task in tasks.items())
        raise zoo.ConfigError(f"compare models of one task; got {named}")
    return next(iter(tasks.values()), None)


def run(args: argparse.Namespace) -> int:
    """``python -m train.validate`` with several ``--model``s (or ``--plot``): the table on
    stdout, ``--out`` (a list) and ``--plot``; exit status 2 if any model failed."""
    for option, value in (("--checkpoint", args.checkpoint),
                          ("--confusion-matrix", args.confusion_matrix)):  # fmt: skip
        if value:
            return _fail(f"error: {option} is for one --model; compare saved models "
                         "(local-dir:PATH) or see each model's matrix in --out")  # fmt: skip
    shared = SharedSamples()
    try:
        results = compare(
            args.model, args.data, args.split, shared, batch_size=args.batch_size,
            device=args.device, limit=args.limit, workers=args.workers,
            progress=args.progress, mode=args.mode, tta=args.tta, seed=args.seed,
        )  # fmt: skip
    except zoo.ZooError as exc:
        return _fail(f"error: {exc}")
    finally:
        _leave_process_group()
    if os.environ.get("RANK", "0") != "0":  # under torchrun: one report, from rank 0
        return 0
    failed = [result for result in results if "error" in result]
    for result in failed:
        print(f"{result['model']}: {result['error']}", file=sys.stderr)
    print(comparison_table(results, args.data, args.split, shared.shared))
    code = 2 if failed else 0
    if args.out:
        try:
            write_json(results, args.out)
        except OSError as exc:
            code = _fail(f"error: cannot write --out {args.out}: {exc}")
    if args.plot:
        code = _plot(results, args.plot, f"{args.data} ({args.split})") or code
    return code


def _plot(results: list[dict[str, Any]], path: str, title: str) -> int:
    from .outputs import plot_comparison

    try:
        plot_comparison(results, path, title)
    except ImportError:
        return _fail("error: --plot needs matplotlib: pip install matplotlib")
    except (OSError, ValueError) as exc:
        return _fail(f"error: cannot write --plot {path}: {exc}")
    return 0
