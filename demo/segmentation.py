"""Running several segmentation models on one image and measuring how they differ (no UI code).

Models may have different label sets (a person model, Cityscapes' 19 classes, ADE20K's 150), so
their masks are compared by class *name*: two models agree on a pixel when they give it the
same label.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

import zoo

from . import backends
from .cards import Card, Job, Run, run_cards
from .models import Latency, ModelCache, timed_run
from .names import short_name
from .policy import Policy

#: Colour of the pixels where the models disagree, on the dimmed photo.
DISAGREE_RGB = (255, 40, 40)


class SegCard(Card[zoo.SegmentationResult]):
    """One model's outcome on the image: its segmentation, or why there is none."""


def segment_run(image: Image.Image) -> Run:
    """A run that segments ``image`` (RGB) once and times it, beside the model's recent runs."""

    def run(job: Job) -> tuple[zoo.SegmentationResult, Latency]:
        model, ran_on = job.loaded.model, job.backend
        return timed_run(job.loaded, ran_on, lambda: zoo.segment(model, image, backend=ran_on))

    return run


def run_segmenters(
    image: Image.Image,
    names: list[str],
    cache: ModelCache,
    on_load: Callable[[str], None] | None = None,
    backend: str = "pytorch",
    policy: Policy | None = None,
) -> list[SegCard]:
    """Segment ``image`` with every model in ``names`` on ``backend`` (see
    :mod:`demo.backends`), once each, timed beside its recent runs; a model that cannot
    load, has no weights here or is refused by ``policy`` gets a card that says why (never
    random-weight output; see :func:`demo.cards.run_cards`)."""
    return run_cards(
        SegCard,
        "segmentation",
        segment_run(image),
        names,
        cache,
        on_load=on_load,
        backend=backend,
        policy=policy,
    )


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def legend(result: zoo.SegmentationResult, limit: int = 12) -> tuple[list[Any], dict[str, str]]:
    """The classes present, largest first, as ``gr.HighlightedText`` value and colour map:
    ``[("person 54.5 %", "person"), ...]``, ``{"person": "#ff0080"}``."""
    shares = result.class_shares()
    colours = {label: hex_colour(result.palette[i]) for i, label in enumerate(result.labels)}
    entries: list[Any] = []
    for label, share in list(shares.items())[:limit]:
        entries += [(f"{label} {share:.1%}", label), (" ", None)]
    if len(shares) > limit:
        entries.append((f"+{len(shares) - limit} more classes", None))
    return entries, {label: colours[label] for label in shares}


def _named_masks(cards: list[SegCard]) -> tuple[list[np.ndarray], list[str]]:
    """Each mask's pixels as indices into one shared vocabulary of class names."""
    vocabulary: dict[str, int] = {}
    masks = []
    for card in cards:
        assert card.result is not None
        table = np.array(
            [vocabulary.setdefault(label, len(vocabulary)) for label in card.result.labels],
            dtype=np.int32,
        )
        masks.append(table[card.result.mask])
    return masks, list(vocabulary)


AGREEMENT_HEADERS = ["model A", "model B", "pixel agreement (%)", "mIoU (%)"]
#: Each column's share of the table's width.
AGREEMENT_WIDTHS = ["32%", "32%", "20%", "16%"]


def agreement(cards: list[SegCard]) -> list[list[Any]]:
    """Pairwise agreement of the models that ran: the share of pixels given the same label,
    and the mean IoU over the labels either model uses (by name)."""
    ran = [c for c in cards if c.ok]
    if len(ran) < 2 or len({c.result.mask.shape for c in ran if c.result is not None}) != 1:
        return []
    masks, names = _named_masks(ran)
    rows = []
    for (i, a), (j, b) in itertools.combinations(enumerate(masks), 2):
        counts = np.bincount((a * len(names) + b).ravel(), minlength=len(names) ** 2)
        confusion = counts.reshape(len(names), len(names))  # (A label, B label)
        same = np.diag(confusion)
        union = confusion.sum(0) + confusion.sum(1) - same
        used = union > 0
        miou = float((same[used] / union[used]).mean()) if used.any() else 1.0
        rows.append(
            [ran[i].name, ran[j].name, round(100 * same.sum() / a.size, 2), round(100 * miou, 2)]
        )
    return rows


def disagreement_map(cards: list[SegCard]) -> Image.Image | None:
    """The photo, dimmed to grey, with the pixels where the models that ran do not all give
    the same label in red; None with fewer than two results."""
    ran = [c for c in cards if c.ok]
    if len(ran) < 2:
        return None
    masks, _ = _named_masks(ran)
    differ = np.zeros(masks[0].shape, dtype=bool)
    for mask in masks[1:]:
        differ |= mask != masks[0]
    assert ran[0].result is not None
    grey = np.asarray(ran[0].result.image.convert("L"), dtype=np.float32) * 0.6 + 40
    canvas = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    canvas[differ] = DISAGREE_RGB
    return Image.fromarray(canvas)


def summary(cards: list[SegCard], rows: list[list[Any]]) -> str:
    """A short Markdown verdict: which models ran, how much they agree, the largest classes."""
    ran = [c for c in cards if c.ok and c.result is not None]
    if not ran:
        return "No model produced a segmentation."
    parts = []
    for card in ran:
        assert card.result is not None
        top = ", ".join(
            f"*{label}* {share:.0%}"
            for label, share in list(card.result.class_shares().items())[:3]
        )
        ran_on = backends.label(card.backend)
        ms = card.latency.ms if card.latency else card.result.latency_ms
        parts.append(f"**{short_name(card.name)}**: {top} ({ms:.0f} ms, {ran_on})")
    text = "  \n".join(parts)
    if len(rows) == 1:
        text += (
            f"  \nThe two models give the same label to **{rows[0][2]:.1f} %** of pixels "
            "(compared by class name)."
        )
    elif rows:
        mean = sum(r[2] for r in rows) / len(rows)
        worst = min(rows, key=lambda r: r[2])
        text += (
            f"  \nThe models give the same label to **{mean:.1f} %** of pixels on average; "
            f"least alike: {short_name(worst[0])} vs {short_name(worst[1])} "
            f"({worst[2]:.1f} %). Compared by class name."
        )
    return text


def to_json(cards: list[SegCard], rows: list[list[Any]]) -> dict[str, Any]:
    """The comparison as plain JSON (what the API endpoint returns besides images)."""
    items = []
    for card in cards:
        item = card.json_head()
        if card.result is not None:
            latency = card.latency
            item.update(
                latency_ms=round(latency.ms if latency else card.result.latency_ms, 1),
                median_ms=round(latency.median_ms, 1) if latency else None,
                runs=latency.runs if latency else 0,
                params=card.params,
                input_size=list(card.input_size or ()),
                weight_source=card.weight_source,
                weights=card.weights,
                backend=card.backend,
                note=card.note,
                class_shares={k: round(v, 5) for k, v in card.result.class_shares().items()},
            )
        items.append(item)
    agreement_rows = [dict(zip(AGREEMENT_HEADERS, row, strict=True)) for row in rows]
    return {"results": items, "agreement": agreement_rows}
