"""The number the weights' authors (or the training run) recorded, beside ours: which data set
a tag's metric was measured on, the metric as recorded, and the comparison ``validate`` adds
to its result."""

from __future__ import annotations

from typing import Any

import zoo

#: The metric a tag or saved model records, per task, and how validate's result names it.
REFERENCE_METRIC = {"segmentation": "mIoU", "classification": "top1"}


def published_metric(info: Any, kind: str, split: str, num_classes: int) -> float | None:
    """The primary metric (percent: mIoU, or top-1) recorded with the weights, when it was
    measured on this data set's validation split (its record's ``layout`` is ``kind``) with
    these classes; else None."""
    value = info.metrics.get(REFERENCE_METRIC.get(info.task, "mIoU"))
    if (
        _layout(info.dataset) != kind
        or split != "val"
        or info.num_classes != num_classes
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
    ):
        return None
    return float(value)


def _layout(dataset: str | None) -> str | None:
    """The ``train.validate`` layout that reads the split ``dataset``'s metrics come from."""
    try:
        return zoo.dataset_info(dataset).layout if dataset else None
    except zoo.ZooError:  # a data set the zoo does not know: nothing to compare with
        return None


def published_comparison(
    result: dict[str, Any], info: Any, kind: str, split: str, num_classes: int
) -> dict[str, float | None]:
    """``published_<metric>`` and ``<metric>_difference`` (ours − published, None where ours
    is undefined) for ``result``, a validation result in percent, when
    :func:`published_metric` has a number for it; else nothing.

    Args:
        result: ``validate``'s result (``mIoU`` or ``top1``, percent or None).
        info: ``zoo.model_info`` of the model.
        kind: The data format (``train.data.parse_spec``'s first part).
        split: The split evaluated.
        num_classes: The model's class count.
    """
    published = published_metric(info, kind, split, num_classes)
    if published is None:
        return {}
    metric = REFERENCE_METRIC[info.task]
    ours = result[metric]
    return {
        f"published_{metric}": published,
        f"{metric}_difference": None if ours is None else ours - published,
    }
