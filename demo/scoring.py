"""Scoring models on a visitor's labelled examples: the Evaluate tab's work (no UI code).

The visitor's classes rarely are a model's: "car" may be Cityscapes' ``car``, "vehicle" its
``car``, ``truck`` and ``bus``, "cat" five ImageNet breeds. A **mapping** sends each visitor
class to a set of the model's class names (proposed by name, editable); a model class in no
set is *other*. Scores are taken over the visitor's classes:

- segmentation: the model's mask is translated pixel by pixel (other counts as a wrong label);
  pixels of a visitor class that maps to nothing are ignored. mIoU, mAcc and aAcc follow
  mmsegmentation's definitions (as ``python -m train.validate``), from one confusion matrix.
- classification: top-1 counts an example right when the model's most likely class is one of
  its visitor class's, top-5 when one of its five most likely is; examples of a visitor class
  that maps to nothing are left out.

Each model runs through the zoo's inference pipeline (:func:`zoo.segment`,
:func:`zoo.classify`) one example at a time, timed as the other tabs time a run.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.classification import multiclass_confusion_matrix

import zoo

from .cards import Card, Job, Run, run_cards
from .labelled import IGNORE_INDEX, Labelled
from .models import Latency, ModelCache, timed_run
from .names import short_name
from .policy import Policy

#: What a mapping cell separates model class names with (ImageNet's names hold commas).
SEPARATOR = ";"
#: Words that name a group of classes, and the class names the group proposes.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "vehicle": ("car", "truck", "bus", "motorcycle", "motorbike", "bicycle", "train", "van"),
    "people": ("person", "rider"),
    "human": ("person",),
    "pedestrian": ("person",),
    "plant": ("vegetation", "plant", "pottedplant", "tree", "grass", "flower"),
    "vegetation": ("vegetation", "tree", "grass", "plant"),
    "bike": ("bicycle", "motorcycle", "motorbike"),
    "tv": ("tvmonitor", "television receiver", "monitor"),
    "ground": ("road", "sidewalk", "terrain", "earth", "floor", "ground"),
}
#: At most this many model classes proposed from word matches alone.
MAX_WORD_MATCHES = 12
#: Worst examples kept per model.
WORST_PER_MODEL = 3
#: Height of a worst example's picture, in pixels.
WORST_HEIGHT = 240
RIGHT_RGB, WRONG_RGB = (40, 200, 70), (255, 40, 40)


class MappingError(ValueError):
    """A label mapping that cannot be used; the message is one line for the visitor."""


def _normal(name: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", name.lower()).split())


def _forms(name: str) -> set[str]:
    """A name, singular and plural."""
    word = _normal(name)
    return {word, word.removesuffix("s"), f"{word}s", word.removesuffix("es")} - {""}


def propose(visitor_class: str, labels: Sequence[str]) -> list[str]:
    """The model classes ``visitor_class`` is proposed to mean: the same name (or one of a
    name's comma-separated synonyms, or its plural); else a group's members
    (:data:`SYNONYMS`); else the classes one of whose names ends in it as a word ("cat" →
    "tiger cat", not "cat bear"; at most :data:`MAX_WORD_MATCHES`). Empty: no proposal."""
    unique = list(dict.fromkeys(labels))
    forms = _forms(visitor_class)
    same = [lab for lab in unique if any(_normal(part) in forms for part in lab.split(","))]
    if same:
        return same
    group = SYNONYMS.get(_normal(visitor_class), ())
    members = [lab for lab in unique if _normal(lab) in group]
    if members:
        return members
    heads = [
        lab
        for lab in unique
        if any(_normal(part).split()[-1:] and _normal(part).split()[-1] in forms
               for part in lab.split(","))
    ]  # fmt: skip
    return heads if len(heads) <= MAX_WORD_MATCHES else []


def proposals(classes: Sequence[str], labels: Sequence[str]) -> list[list[str]]:
    """:func:`propose` for each visitor class, each model class given to one visitor class
    only: to the one whose name it is, else to the first that proposed it."""
    proposed = [propose(name, labels) for name in classes]
    owners: dict[str, int] = {}
    for index, names in enumerate(proposed):
        for label in names:
            exact = any(_normal(p) in _forms(classes[index]) for p in label.split(","))
            if label not in owners or (exact and owners[label] != index and not any(
                _normal(p) in _forms(classes[owners[label]]) for p in label.split(",")
            )):  # fmt: skip
                owners[label] = index
    return [[lab for lab in names if owners[lab] == i] for i, names in enumerate(proposed)]


def proposal_table(classes: Sequence[str], models: dict[str, list[str]]) -> list[list[str]]:
    """Rows ``[visitor class, model 1's classes, ...]`` with each cell's classes joined by
    :data:`SEPARATOR` (the mapping table's starting value)."""
    columns = [proposals(classes, labels) for labels in models.values()]
    return [
        [name, *(f"{SEPARATOR} ".join(column[i]) for column in columns)]
        for i, name in enumerate(classes)
    ]


def _cell(value: Any) -> str:
    """A table cell as text: None and NaN are empty; only text and numbers are read."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, (str, int, float)):
        raise MappingError("The mapping table's cells must be text (class names separated by ;).")
    return str(value)


def _rows(table: Any) -> tuple[list[str], list[list[str]]]:
    """A ``gr.Dataframe`` value (its JSON dict, a pandas frame, or rows) as headers and rows
    of text.

    Raises:
        MappingError: Not a table.
    """
    if table is None:
        return [], []
    if hasattr(table, "columns") and hasattr(table, "values"):  # pandas
        headers, rows = list(table.columns), table.values.tolist()
    elif isinstance(table, dict):
        headers, rows = table.get("headers") or [], table.get("data") or []
    else:
        headers, rows = [], table
    if not isinstance(headers, list) or not isinstance(rows, list):
        raise MappingError("The mapping must be a table: headers and rows.")
    if not all(isinstance(row, (list, tuple)) for row in rows):
        raise MappingError("The mapping must be a table: each row a list of cells.")
    return [_cell(h) for h in headers], [[_cell(c) for c in row] for row in rows]


def parse_mapping(
    table: Any, classes: Sequence[str], models: dict[str, list[str]]
) -> dict[str, list[set[str]]]:
    """Per model, the set of its class names each visitor class maps to.

    Args:
        table: The mapping table: headers ``["your class", MODEL, ...]`` and one row per
            visitor class (as :func:`proposal_table`); a model without a column, or an
            empty table, gets the proposal.
        classes: The visitor's classes, in index order.
        models: Each model's class names.

    Raises:
        MappingError: Not a table of text, a name that is not one of the model's classes, a
            model class mapped to two visitor classes, a row for a class the upload does not
            have, or two rows for one class.
    """
    headers, rows = _rows(table)
    by_class: dict[str, list[str]] = {}
    for row in rows:
        name = row[0].strip() if row else ""
        if not name:
            continue
        if name not in classes:
            shown = ", ".join(classes[:10]) + (", …" if len(classes) > 10 else "")
            raise MappingError(
                f"The mapping has a row for {name[:60]!r}, which is not one of the upload's "
                f"classes ({shown})."
            )
        if name in by_class:
            raise MappingError(f"The mapping has two rows for {name!r}; keep one.")
        by_class[name] = row
    mapping: dict[str, list[set[str]]] = {}
    for model, labels in models.items():
        known = set(labels)
        column = headers.index(model) if model in headers and rows else None
        proposed = proposals(classes, labels)
        sets: list[set[str]] = []
        for index, name in enumerate(classes):
            edited = by_class.get(name)
            if column is None or edited is None or column >= len(edited):
                cell = proposed[index]
            else:
                cell = [part.strip() for part in edited[column].split(SEPARATOR) if part.strip()]
            wrong = [part for part in cell if part not in known]
            if wrong:
                raise MappingError(
                    f"{short_name(model)} has no class {wrong[0][:60]!r} (mapped from {name!r}); "
                    f"its classes include {', '.join(map(repr, labels[:6]))}."
                )
            sets.append(set(cell))
        for i, j in itertools.combinations(range(len(sets)), 2):
            both = sets[i] & sets[j]
            if both:
                raise MappingError(
                    f"{short_name(model)}'s class {sorted(both)[0]!r} is mapped to both "
                    f"{classes[i]!r} and {classes[j]!r}; map it to one."
                )
        mapping[model] = sets
    return mapping


@dataclass
class Worst:
    """One of a model's worst examples: its picture and a caption."""

    picture: Image.Image
    caption: str


@dataclass
class Score:
    """One model's scores on the upload.

    Attributes:
        task: ``"segmentation"`` or ``"classification"``.
        metrics: ``mIoU``, ``mAcc``, ``aAcc`` or ``top-1``, ``top-5`` in percent (None where
            undefined: top-5 of a model with five classes or fewer, nothing labelled).
        per_class: Per visitor class, IoU (segmentation) or accuracy (classification) in
            percent; None for a class that maps to nothing or has no pixel/example.
        ignored: The visitor classes that map to none of the model's classes.
        ms: Each example's run, in milliseconds.
        worst: The worst examples, worst first.
    """

    task: str
    metrics: dict[str, float | None]
    per_class: list[float | None]
    ignored: list[str]
    ms: list[float]
    worst: list[Worst] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms) if self.ms else float("nan")

    @property
    def main(self) -> float | None:
        """The leaderboard's metric: mIoU or top-1."""
        return self.metrics["mIoU" if self.task == "segmentation" else "top-1"]


class EvalCard(Card[Score]):
    """One model's outcome in the Evaluate tab: its scores, or why there are none."""


def _lookup(labels: Sequence[str], sets: list[set[str]]) -> np.ndarray:
    """Model class index → visitor class index (``len(sets)`` = other)."""
    table = np.full(len(labels), len(sets), dtype=np.int64)
    for visitor, names in enumerate(sets):
        for index, label in enumerate(labels):
            if label in names:
                table[index] = visitor
    return table


def _ratios(matrix: np.ndarray, mapped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per visitor class IoU and accuracy from a ``(C + 1, C + 1)`` confusion matrix (rows =
    truth, the last row/column = other); NaN where undefined or unmapped."""
    size = len(mapped)
    hits = np.diag(matrix)[:size].astype(np.float64)
    labelled = matrix[:size].sum(1).astype(np.float64)
    union = labelled + matrix[:, :size].sum(0) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where((union > 0) & mapped, hits / union, np.nan)
        acc = np.where((labelled > 0) & mapped, hits / labelled, np.nan)
    return iou, acc


def _percent(value: float) -> float | None:
    return None if np.isnan(value) else round(100.0 * float(value), 2)


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


def _side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    scale = WORST_HEIGHT / left.height
    size = (max(1, round(left.width * scale)), WORST_HEIGHT)
    canvas = Image.new("RGB", (2 * size[0] + 4, WORST_HEIGHT), (255, 255, 255))
    canvas.paste(left.resize(size), (0, 0))
    canvas.paste(right.resize(size, Image.Resampling.NEAREST), (size[0] + 4, 0))
    return canvas


def _errors(image: Image.Image, truth: np.ndarray, predicted: np.ndarray) -> Image.Image:
    """The photo dimmed to grey, labelled pixels green where right and red where wrong."""
    grey = np.asarray(image.convert("L"), dtype=np.float32) * 0.6 + 40
    canvas = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    labelled = truth != IGNORE_INDEX
    canvas[labelled & (truth == predicted)] = RIGHT_RGB
    canvas[labelled & (truth != predicted)] = WRONG_RGB
    return Image.fromarray(canvas)


def _segmentation_score(
    labelled: Labelled, sets: list[set[str]], results: list[zoo.SegmentationResult]
) -> Score:
    classes = labelled.classes or []
    size = len(classes)
    mapped = np.array([bool(s) for s in sets])
    matrix = np.zeros((size + 1, size + 1), dtype=np.int64)
    per_image: list[tuple[float, int, np.ndarray, np.ndarray]] = []
    for index, (example, result) in enumerate(zip(labelled.examples, results, strict=True)):
        truth = np.asarray(example.target).astype(np.int64)
        truth = np.where(np.isin(truth, np.flatnonzero(~mapped)), IGNORE_INDEX, truth)
        predicted = _lookup(result.labels, sets)[result.mask]
        confusion = multiclass_confusion_matrix(
            torch.from_numpy(predicted), torch.from_numpy(truth), size + 1,
            ignore_index=IGNORE_INDEX, validate_args=False,
        ).numpy()  # fmt: skip
        matrix += confusion
        iou, _ = _ratios(confusion, mapped)
        per_image.append((_mean(iou), index, truth, predicted))
    iou, acc = _ratios(matrix, mapped)
    labelled_pixels = matrix[:size].sum()
    metrics = {
        "mIoU": _percent(_mean(iou)),
        "mAcc": _percent(_mean(acc)),
        "aAcc": _percent(np.trace(matrix[:size, :size]) / labelled_pixels)
        if labelled_pixels
        else None,
    }
    worst = []
    for score, index, truth, predicted in sorted(per_image, key=_worst_first)[:WORST_PER_MODEL]:
        result, example = results[index], labelled.examples[index]
        picture = _side_by_side(result.overlay(0.5), _errors(result.image, truth, predicted))
        shown = "no labelled pixel" if np.isnan(score) else f"IoU {100 * score:.1f} %"
        worst.append(Worst(picture, f"{example.name}: {shown}"))
    per_class = [_percent(v) for v in iou]
    ignored = [name for name, ok in zip(classes, mapped, strict=True) if not ok]
    return Score("segmentation", metrics, per_class, ignored, [], worst)


def _worst_first(item: tuple[float, int, Any, Any]) -> tuple[float, int]:
    score, index = item[0], item[1]
    return (2.0 if np.isnan(score) else score, index)


def _classification_score(
    labelled: Labelled, sets: list[set[str]], results: list[list[tuple[str, float]]]
) -> Score:
    """Top-1: the model's most likely class is one of the true visitor class's; top-5: one
    of its five most likely is (None for a model with fewer than six classes). Examples of
    a visitor class that maps to nothing are left out."""
    classes = labelled.classes or []
    size = len(classes)
    mapped = [bool(s) for s in sets]
    owner = {label: v for v, names in enumerate(sets) for label in names}
    top1 = top5 = counted = 0
    hits, seen = np.zeros(size), np.zeros(size)
    ranked: list[tuple[float, int, str]] = []
    for index, (example, top) in enumerate(zip(labelled.examples, results, strict=True)):
        truth = int(example.target)
        if not mapped[truth]:
            continue
        counted += 1
        seen[truth] += 1
        right = [owner.get(label) == truth for label, _ in top[:5]]
        top1 += int(right[0])
        hits[truth] += int(right[0])
        top5 += int(any(right))
        p_true = sum(p for label, p in top if owner.get(label) == truth)
        ranked.append((p_true, index, top[0][0]))
    top5_defined = counted and len(results[0]) > 5
    metrics = {
        "top-1": round(100.0 * top1 / counted, 2) if counted else None,
        "top-5": round(100.0 * top5 / counted, 2) if top5_defined else None,
    }
    worst = []
    for p_true, index, guess in sorted(ranked)[:WORST_PER_MODEL]:
        example = labelled.examples[index]
        width = max(1, round(WORST_HEIGHT * example.image.width / example.image.height))
        said = classes[owner[guess]] if guess in owner else "none of yours"
        caption = (
            f"{example.name}: labelled {classes[int(example.target)]!r} "
            f"({100 * p_true:.0f} % on its classes), top class {guess!r} ({said})"
        )
        worst.append(Worst(example.image.resize((width, WORST_HEIGHT)), caption))
    per_class = [
        round(100.0 * hits[i] / seen[i], 2) if mapped[i] and seen[i] else None for i in range(size)
    ]
    ignored = [name for name, ok in zip(classes, mapped, strict=True) if not ok]
    return Score("classification", metrics, per_class, ignored, [], worst)


def evaluation_run(
    labelled: Labelled,
    mapping: dict[str, list[set[str]]],
    on_example: Callable[[str, int], None] | None = None,
) -> Run:
    """A run (see :func:`demo.cards.run_cards`) that puts every example of ``labelled``
    through one model, timing each, and scores it under ``mapping`` (keyed by the models'
    canonical names, :attr:`zoo.ModelInfo.name`). A model's first run in this process (cold
    caches, lazy initialisation) is an extra, untimed run of the first example.

    Args:
        labelled: The decoded upload (see :func:`demo.labelled.read`).
        mapping: Per model, per visitor class, the model class names it means (see
            :func:`parse_mapping`).
        on_example: Called with the model's name and the example's index before each.

    Returns:
        The run: ``job`` → (its :class:`Score`, the last example's :class:`Latency`).
    """

    def run(job: Job) -> tuple[Score, Latency | None]:
        loaded, backend = job.loaded, job.backend
        sets = mapping[loaded.name]
        if labelled.task == "segmentation":
            infer: Callable[..., Any] = zoo.segment
        else:  # every class's probability, to sum per visitor class
            infer = partial(zoo.classify, top_k=len(zoo.get_labels(loaded.model)))
        ms: list[float] = []
        latency: Latency | None = None
        outputs: list[Any] = []
        if backend not in loaded.first_ms and labelled.examples:  # its cold run is not timed
            timed_run(loaded, backend, partial(infer, loaded.model, labelled.examples[0].image,
                                               backend=backend))  # fmt: skip
        for index, example in enumerate(labelled.examples):
            if on_example is not None:
                on_example(loaded.name, index)
            call = partial(infer, loaded.model, example.image, backend=backend)
            output, latency = timed_run(loaded, backend, call)
            ms.append(latency.ms)
            outputs.append(output)
        if labelled.task == "segmentation":
            score = _segmentation_score(labelled, sets, outputs)
        else:
            score = _classification_score(labelled, sets, outputs)
        score.ms = ms
        return score, latency

    return run


def run_evaluation(
    labelled: Labelled,
    mapping: dict[str, list[set[str]]],
    names: list[str],
    cache: ModelCache,
    on_example: Callable[[str, int], None] | None = None,
    backend: str = "pytorch",
    policy: Policy | None = None,
    on_load: Callable[[str], None] | None = None,
) -> list[EvalCard]:
    """Score every model in ``names`` on ``labelled`` under ``mapping`` (see
    :func:`evaluation_run`) on ``backend``; a model that cannot load, has no weights here,
    is not a ``labelled.task`` model or is refused by ``policy`` gets a card that says why
    (see :func:`demo.cards.run_cards`)."""
    return run_cards(
        EvalCard,
        labelled.task,
        evaluation_run(labelled, mapping, on_example),
        names,
        cache,
        on_load=on_load,
        backend=backend,
        policy=policy,
    )
