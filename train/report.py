"""What ``python -m train.validate`` reports: the evaluators' fractions as percent summaries,
the per-class tables (:func:`class_table`, also the trainer's end-of-run IoU list), the printed
report and the JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import zoo

from .eval_data import SAVED_PREFIXES


# -- summaries --------------------------------------------------------------------------------
def _percent(value: float) -> float | None:
    return None if math.isnan(value) else 100.0 * value


def segmentation_summary(scores: dict[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """:func:`train.evaluation.evaluate_segmentation`'s fractions as mmsegmentation reports
    them: percent, None where a class has no IoU/Acc."""
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
    """:func:`train.evaluation.evaluate_classification`'s fractions in percent (per-class None
    where a class has no image)."""
    per_class = zip(classes, scores["per_class_acc"], strict=True)
    return {
        "images": scores["images"],
        "top1": 100.0 * scores["top1"],
        "top5": 100.0 * scores["top5"],
        "val_loss": scores["val_loss"],
        "per_class": [{"class": c, "Acc": _percent(a)} for c, a in per_class],
        "confusion_matrix": scores["confusion_matrix"],
    }


# -- tables -----------------------------------------------------------------------------------
def _cell(value: float | None, digits: int = 2, missing: str = "nan") -> str:
    """``value`` to ``digits`` decimals, or ``missing`` where undefined (None or NaN)."""
    return missing if value is None or math.isnan(value) else f"{value:.{digits}f}"


def class_table(
    classes: Sequence[str],
    columns: Mapping[str, Sequence[float | None]],
    framed: bool = True,
) -> str:
    """One row per class, one column per metric.

    Args:
        classes: The class names.
        columns: Title → one value per class (None or NaN where undefined).
        framed: mmsegmentation's table, as ``python -m train.validate`` prints it: a title
            row and rules, percent to 2 decimals, ``nan`` where undefined. Otherwise the
            trainer's end-of-run list: indented rows without titles, fractions to 3
            decimals, ``n/a`` where undefined.

    Raises:
        ValueError: A column without one value per class.
    """
    rows = list(zip(classes, *columns.values(), strict=True))
    if not framed:
        width = max(len(name) for name in classes)
        return "\n".join(
            f"  {name:<{width}}  " + "  ".join(f"{_cell(v, 3, 'n/a'):>5}" for v in values)
            for name, *values in rows
        )
    width = max(len("Class"), *(len(name) for name in classes))
    rule = f"+-{'-' * width}-+" + "--------+" * len(columns)
    titles = "".join(f" {title:>6} |" for title in columns)
    lines = [rule, f"| {'Class':<{width}} |{titles}", rule]
    for name, *values in rows:
        lines.append(f"| {name:<{width}} |" + "".join(f" {_cell(v):>6} |" for v in values))
    return "\n".join([*lines, rule])


def _table(per_class: list[dict[str, Any]], titles: Sequence[str]) -> str:
    """:func:`class_table` of a result's ``per_class`` rows."""
    columns = {title: [row[title] for row in per_class] for title in titles}
    return class_table([row["class"] for row in per_class], columns)


#: Classification reports print the per-class table up to this many classes (all are in --out).
MAX_TABLE_CLASSES = 100


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
            _table(per_class, ["Acc"])
            if len(per_class) <= MAX_TABLE_CLASSES
            else f"({len(per_class)} classes: per-class accuracy in --out)"
        )
        lines = [title, table, f"top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}"]
        metric, label = "top1", "top-1"
    else:
        lines = [
            title,
            _table(result["per_class"], ["IoU", "Acc"]),
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


#: The comparison table's metric columns per task: (title, result key), percent.
COMPARED = {
    "segmentation": (("mIoU", "mIoU"), ("mAcc", "mAcc"), ("aAcc", "aAcc")),
    "classification": (("top-1", "top1"), ("top-5", "top5")),
}


def comparison_table(
    results: Sequence[dict[str, Any]], data: str, split: str, shared: bool = False
) -> str:
    """One row per model: name, parameters (millions), the task's metrics (percent), the
    median forward-pass latency (milliseconds per image) and the images evaluated; a model
    that failed gets its error instead. A title line above says what was measured where.

    Args:
        results: :func:`train.compare.compare`'s list.
        data: The ``--data`` they ran on.
        split: The split.
        shared: Whether the samples were decoded once for all models.
    """
    done = [result for result in results if "error" not in result]
    task = "segmentation" if any("mIoU" in result for result in done) else "classification"
    titles = ["model", "params (M)", *(t for t, _ in COMPARED[task]), "ms/image", "images"]
    rows = [
        [
            result["model"],
            f"{result['params'] / 1e6:.2f}",
            *(_cell(result[key]) for _, key in COMPARED[task]),
            _cell(result["latency_ms"], 2, "n/a"),
            str(result["images"]),
        ]
        for result in done
    ]
    widths = [max(len(cells[i]) for cells in [titles, *rows]) for i in range(len(titles))]
    widths[0] = max(widths[0], *(len(result["model"]) for result in results))

    def line(cells: Sequence[str]) -> str:
        numbers = zip(cells[1:], widths[1:], strict=True)
        padded = [cells[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in numbers)]
        return "| " + " | ".join(padded) + " |"

    rule = "+-" + "-+-".join("-" * width for width in widths) + "-+"
    body = iter(rows)
    lines = [rule, line(titles), rule]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['model'].ljust(widths[0])} | {result['error']}")
        else:
            lines.append(line(next(body)))
    devices = sorted({str(result.get("device")) for result in done})
    batches = sorted({int(result.get("batch_size", 1)) for result in done})
    settings = [result.get("mode", "whole") for result in done[:1] if "mIoU" in result]
    settings += ["flip"] if any(result.get("tta") for result in done) else []
    title = (
        f"{len(results)} models on {data} ({', '.join([split, *settings])}); ms/image: median "
        f"forward pass in batches of {'/'.join(map(str, batches)) or 'n/a'} on "
        f"{', '.join(devices) or 'n/a'}; samples "
        f"{'decoded once for all models' if shared else 'decoded by each model'}"
    )
    return "\n".join([title, *lines, rule])


def _jsonable(value: Any) -> Any:
    """``value`` with NaN and infinities (e.g. the loss of diverged weights) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def write_json(result: dict[str, Any] | list[dict[str, Any]], path: str) -> None:
    """``result`` (one model's, or a comparison's list) as JSON, written atomically (undefined
    values are ``null``)."""
    with zoo.atomic_write(path, "w") as file:
        json.dump(_jsonable(result), file, indent=2, allow_nan=False)
        file.write("\n")
