"""The Evaluate tab: which model fits *my* data? Up to four models scored on a visitor's own
labelled examples (a zip), with a leaderboard, per-class scores, the worst examples and an
accuracy-against-latency plot."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

import zoo

from . import backends, picker
from .labelled import (
    CLASSIFICATION_LAYOUT,
    MAX_EXAMPLES,
    MAX_MEGAPIXELS,
    NO_CLASS_NAMES,
    SEGMENTATION_LAYOUT,
    Labelled,
    UploadError,
    inspect,
    open_zip,
    read,
    summary_of,
)
from .models import (
    DEFAULT_MODELS,
    SUGGESTED_MODELS,
    ModelCache,
    availability,
    choice_label,
    describe,
    loading_progress,
    segmentation_choices,
)
from .names import short_name
from .policy import Policy, SessionGuard
from .scoring import (
    SEPARATOR,
    EvalCard,
    MappingError,
    parse_mapping,
    proposal_table,
    run_evaluation,
)
from .uploads import chosen_names, upload_path

MAX_MODELS = 4
TASKS = [
    ("Segmentation: image + mask pairs", "segmentation"),
    ("Classification: one folder per class", "classification"),
]
INFO = "Up to 4 of the same task; or type a zoo name, local-dir:PATH or hf-hub:ORG/NAME."
LATENCY = "median latency (ms)"
MAIN = {"segmentation": "mIoU (%)", "classification": "top-1 (%)"}
COLUMNS = {
    "segmentation": ["mIoU (%)", "mAcc (%)", "aAcc (%)"],
    "classification": ["top-1 (%)", "top-5 (%)"],
}
#: The published metric of a tag's record plotted for each task (ModelInfo.metrics key).
PUBLISHED = {"segmentation": "mIoU", "classification": "top1"}
REPLY_FORMAT = "jpeg"

HELP = f"""Which of these models is best **on your images**, and what does each cost here? Upload
a zip of labelled examples, pick up to four models and press **Evaluate**. At most
**{MAX_EXAMPLES} examples** and **{MAX_MEGAPIXELS} megapixels** per upload.

- *Segmentation*: {SEGMENTATION_LAYOUT}; a mask holds one class index per pixel (255 = ignore)
  and `classes.json` is `{{"classes": ["background", "person", ...]}}`.
- *Classification*: {CLASSIFICATION_LAYOUT}.

When your class names differ from a model's, the table below proposes which of the model's
classes each of yours means; edit a cell to change it (several classes separated by `{SEPARATOR}`,
empty = ignore the class). In segmentation a model class you do not map counts as a wrong
label; in classification an example is right when the model's most likely class (top-1), or
one of its five most likely (top-5), is one of its class's."""


def _task(value: Any) -> str:
    if value not in MAIN:
        raise gr.Error(f"Choose a task: {' or '.join(MAIN)} (got {value!r}).")
    return str(value)


def _shown_name(payload: Any, path: str) -> str:
    name = payload.get("orig_name") if isinstance(payload, dict) else None
    return str(name or Path(path).name)


def _zip(payload: Any) -> tuple[zipfile.ZipFile, str]:
    path = upload_path(payload, "a .zip of labelled examples", examples=False)
    shown = _shown_name(payload, path)
    if not shown.lower().endswith(".zip") and not zipfile.is_zipfile(path):
        raise gr.Error(f"{shown} is not a .zip file; upload a zip of labelled examples.")
    try:
        return open_zip(path, shown), shown
    except UploadError as exc:
        raise gr.Error(str(exc)) from None


def _model_labels(
    names: Sequence[str], task: str, policy: Policy
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each usable model's canonical name → its class names, and each other name → why not
    (from :func:`demo.models.describe`: no model is loaded)."""
    labels: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for name in names:
        info = describe(name, task, policy, remedy=False)
        if isinstance(info, str):
            problems[name] = policy.public_text(info)
        else:
            labels.setdefault(info.name, list(info.labels))
    return labels, problems


def _shared_labels(models: dict[str, list[str]]) -> list[str] | None:
    """The models' class names when they all have the same ones."""
    sets = {tuple(labels) for labels in models.values()}
    return list(sets.pop()) if len(sets) == 1 else None


def _inspected(payload: Any, task: str, models: dict[str, list[str]]) -> tuple[Labelled, Any]:
    """The upload, listed (not decoded), its archive still open."""
    archive, _ = _zip(payload)
    try:
        labelled = inspect(archive, task)
    except UploadError as exc:
        archive.close()
        raise gr.Error(str(exc)) from None
    if labelled.classes is None:
        labelled.classes, labelled.named = _shared_labels(models), False
        if labelled.classes is None:
            archive.close()
            raise gr.Error(NO_CLASS_NAMES)
    return labelled, archive


def _upload_info(labelled: Labelled, models: dict[str, list[str]]) -> str:
    """What the upload holds, where its class names come from, and which classes no model
    class was proposed for."""
    classes = labelled.classes or []
    text = f"{labelled.describe()}: {', '.join(classes)}."
    if not labelled.named:
        text += " No classes.json: the class names are the models' own (mask value = index)."
    table = proposal_table(classes, models)
    for column, model in enumerate(models, start=1):
        empty = [row[0] for row in table if not row[column]]
        if empty:
            text += f"  \nNo proposal for {', '.join(map(repr, empty))} in {short_name(model)}: "
            text += "type its classes in the table, or leave it ignored."
    return text


def _mapping_update(labelled: Labelled | None, models: dict[str, list[str]]) -> Any:
    if labelled is None or not labelled.classes:
        return gr.Dataframe(value=None, headers=["your class"], visible=False)
    headers = ["your class", *models]
    rows = proposal_table(labelled.classes, models)
    return gr.Dataframe(value=pd.DataFrame(rows, columns=headers), visible=True)


def _headers(task: str) -> list[str]:
    return ["model", *COLUMNS[task], LATENCY, "params (M)", "published"]


def _leaderboard(cards: list[EvalCard], task: str) -> pd.DataFrame:
    headers = _headers(task)
    rows = []
    for card in sorted(cards, key=_rank):
        if not card.ok or card.result is None:
            continue
        score = card.result
        values = [score.metrics[c.split(" ")[0]] for c in COLUMNS[task]]
        rows.append(
            [
                card.name,
                *values,
                round(score.median_ms, 1),
                round((card.params or 0) / 1e6, 2),
                _published_text(card.name, task),
            ]
        )
    return pd.DataFrame(rows, columns=headers)


def _rank(card: EvalCard) -> tuple[float, str]:
    main = card.result.main if card.ok and card.result is not None else None
    return (-(main if main is not None else -1.0), card.name)


def _published(name: str, task: str) -> tuple[float, str] | None:
    """The tag's published metric for ``task`` and its data set, when its record has one."""
    try:
        info = zoo.model_info(name)
    except zoo.ZooError:
        return None
    value = info.metrics.get(PUBLISHED[task])
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value), str(info.dataset or "its data set")


def _published_text(name: str, task: str) -> str:
    found = _published(name, task)
    return f"{found[0]:.2f} on {found[1]}" if found else "—"


def _per_class(cards: list[EvalCard], classes: list[str], task: str) -> pd.DataFrame:
    ran = [c for c in cards if c.ok and c.result is not None]
    what = "IoU (%)" if task == "segmentation" else "accuracy (%)"
    headers = [f"class · {what}", *(short_name(c.name) for c in ran)]
    rows = []
    for i, name in enumerate(classes):
        row: list[Any] = [name]
        for card in ran:
            assert card.result is not None
            value = card.result.per_class[i]
            ignored = name in card.result.ignored
            row.append("ignored" if ignored else ("—" if value is None else value))
        rows.append(row)
    return pd.DataFrame(rows, columns=headers)


def _plots(cards: list[EvalCard], task: str, examples: int) -> tuple[Any, Any]:
    """The accuracy-against-latency plot on the upload, and the published metric against the
    same latency (hidden when no model picked has a published one)."""
    main = MAIN[task]
    ran = [c for c in cards if c.ok and c.result is not None and c.result.main is not None]
    ran.sort(key=_rank)  # as the leaderboard
    points = pd.DataFrame(
        [
            [short_name(c.name), round(c.result.median_ms, 1), c.result.main]
            for c in ran
            if c.result is not None
        ],
        columns=["model", LATENCY, main],
    )
    mine = gr.ScatterPlot(
        value=points,
        x=LATENCY,
        y=main,
        color="model",
        title=f"{main.split(' ')[0]} on your {examples} examples against latency here",
        tooltip="all",
        visible=bool(ran),
    )
    rows = []
    for card in ran:
        assert card.result is not None
        found = _published(card.name, task)
        if found:
            label = f"{short_name(card.name)} ({found[1]})"
            rows.append([label, round(card.result.median_ms, 1), found[0]])
    published = gr.ScatterPlot(
        value=pd.DataFrame(rows, columns=["model", LATENCY, f"published {main}"]),
        x=LATENCY,
        y=f"published {main}",
        color="model",
        title=f"The zoo's published {main.split(' ')[0]} (each on its own data set) against "
        "latency here",
        tooltip="all",
        visible=bool(rows),
    )
    return mine, published


def _gallery(cards: list[EvalCard]) -> list[tuple[Any, str]]:
    items = []
    for card in cards:
        if card.ok and card.result is not None:
            items += [
                (w.picture, f"{short_name(card.name)} · {w.caption}") for w in card.result.worst
            ]
    return items


def _verdict(cards: list[EvalCard], labelled: Labelled, task: str, problems: dict[str, str]) -> str:
    main = MAIN[task].split(" ")[0]
    ran = sorted((c for c in cards if c.ok and c.result is not None), key=_rank)
    lines = []
    if ran and ran[0].result is not None and ran[0].result.main is not None:
        best = ran[0].result
        lines.append(
            f"**Best on your {len(labelled.examples)} examples: {short_name(ran[0].name)}** "
            f"({main} {best.main:.1f} %, {best.median_ms:.0f} ms per image here)."
        )
    elif ran:
        lines.append("No model could be scored: none of your labelled classes maps to a model.")
    else:
        lines.append("No model ran.")
    for card in ran:
        assert card.result is not None
        if card.result.ignored:
            ignored = ", ".join(repr(n) for n in card.result.ignored)
            lines.append(
                f"{short_name(card.name)} ignores {ignored} (mapped to none of its classes)."
            )
    for card in cards:
        if not card.ok:
            lines.append(f"{short_name(card.name)}: unavailable — {card.error}")
    for name, why in problems.items():
        if not any(c.name == name for c in cards):
            lines.append(f"{short_name(name)}: unavailable — {why}")
    lines.append(
        f"*{labelled.describe()}. Latency: median of the {len(labelled.examples)} runs, one "
        "image at a time on this machine (pre- and post-processing included).*"
    )
    return "  \n".join(lines)


def _to_json(cards: list[EvalCard], labelled: Labelled) -> dict[str, Any]:
    results = []
    for card in cards:
        item = card.json_head()
        if card.result is not None:
            score = card.result
            median = score.median_ms
            item.update(
                metrics=score.metrics,
                per_class=dict(zip(labelled.classes or [], score.per_class, strict=True)),
                ignored=score.ignored,
                median_ms=None if math.isnan(median) else round(median, 1),
                params=card.params,
                backend=card.backend,
                worst=[w.caption for w in score.worst],
            )
        results.append(item)
    return {"upload": summary_of(labelled), "results": results}


def _model_choices(task: str) -> tuple[list[tuple[str, str]], list[str]]:
    if task == "segmentation":
        choices, defaults = segmentation_choices(MAX_MODELS)
        return choices, defaults[:2]
    names = [*DEFAULT_MODELS, *SUGGESTED_MODELS]
    return [(choice_label(n, *availability(n)), n) for n in names], list(DEFAULT_MODELS[:2])


def build(
    cache: ModelCache, policy: Policy | None = None, guard: SessionGuard | None = None
) -> None:
    """The tab's components and events (inside a ``gr.Tab``), loading what ``policy`` allows
    and running one job per visitor at a time under ``guard``."""
    policy = policy or Policy()
    guard = guard or SessionGuard(0)
    choices = {task: _model_choices(task) for task in MAIN}
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=1):
            task = gr.Radio(TASKS, value="segmentation", label="Task", elem_id="eval-task")
            upload = gr.File(label="Labelled examples (.zip)", file_types=[".zip"],
                             elem_id="eval-zip")  # fmt: skip
            models = picker.models("eval-", *choices["segmentation"], MAX_MODELS, INFO)
            upload_info = gr.Markdown(elem_id="eval-upload-info")
            mapping = gr.Dataframe(
                label=f"Your classes → each model's classes ('{SEPARATOR}' between several; "
                "empty = ignored)",
                interactive=True,
                wrap=True,
                visible=False,
                elem_id="eval-mapping",
            )
            backend, run = picker.run_button("eval-", "Evaluate")
        with gr.Column(scale=2):
            verdict = gr.Markdown(elem_id="eval-verdict")
            board = gr.Dataframe(
                headers=_headers("segmentation"),
                label="Leaderboard (best first)",
                interactive=False,
                wrap=True,
                elem_id="eval-leaderboard",
            )
            plot = gr.ScatterPlot(visible=False, elem_id="eval-plot")
            per_class = gr.Dataframe(label="Per class", interactive=False, wrap=True,
                                     elem_id="eval-per-class")  # fmt: skip
            published = gr.ScatterPlot(visible=False, elem_id="eval-published")
    worst = gr.Gallery(
        label="Worst examples per model (left: the model's overlay; right: green = right, "
        "red = wrong)",
        columns=3,
        object_fit="contain",
        format=REPLY_FORMAT,
        elem_id="eval-worst",
    )
    with gr.Accordion("Raw results (JSON)", open=False):
        raw = gr.JSON(label="results")

    def switch_task(value: Any) -> list[Any]:
        options, defaults = choices[_task(value)]
        return [gr.Dropdown(choices=options, value=defaults), _mapping_update(None, {}), ""]

    def propose_mapping(payload: Any, value: Any, names: Any) -> list[Any]:
        """The upload's summary and the proposed mapping for the models picked."""
        if payload is None:
            return [_mapping_update(None, {}), ""]
        task_name = _task(value)
        picked = [n for n in (names if isinstance(names, list) else [names]) if n]
        labels, _ = _model_labels(picked[:MAX_MODELS], task_name, policy)
        labelled, archive = _inspected(payload, task_name, labels)
        archive.close()
        return [_mapping_update(labelled, labels), _upload_info(labelled, labels)]

    def on_evaluate(
        payload: Any,
        value: Any,
        names: list[str] | str | None,
        table: Any,
        choice: str | None = None,
        request: gr.Request | None = None,
        progress: gr.Progress = gr.Progress(),
    ) -> list[Any]:
        task_name = _task(value)
        noun = "segmentation model" if task_name == "segmentation" else "classifier"
        names = chosen_names(names, MAX_MODELS, noun)
        ran_on = backends.backend_value(choice)
        labels, problems = _model_labels(names, task_name, policy)
        with guard.run(request):
            labelled, archive = _inspected(payload, task_name, labels)
            with archive:
                try:
                    read(archive, labelled, labelled.classes)
                    mapping = parse_mapping(table, labelled.classes or [], labels)
                except (UploadError, MappingError) as exc:
                    raise gr.Error(str(exc)) from None
            cards = zoo_cards(labelled, mapping, names, ran_on, progress)
        classes = labelled.classes or []
        mine, theirs = _plots(cards, task_name, len(labelled.examples))
        return [
            _verdict(cards, labelled, task_name, problems),
            _leaderboard(cards, task_name),
            mine,
            _per_class(cards, classes, task_name),
            theirs,
            _gallery(cards),
            _to_json(cards, labelled),
        ]

    def zoo_cards(
        labelled: Labelled, mapping: dict[str, Any], names: list[str], ran_on: str, progress: Any
    ) -> list[EvalCard]:
        total = max(1, len(names) * len(labelled.examples))
        order = {name: i for i, name in enumerate(mapping)}
        on_example: Callable[[str, int], None] = lambda name, index: progress(  # noqa: E731
            (order.get(name, 0) * len(labelled.examples) + index) / total,
            desc=f"{short_name(name)}: example {index + 1} of {len(labelled.examples)}",
        )
        return run_evaluation(labelled, mapping, names, cache, on_example, ran_on, policy,
                              loading_progress(progress))  # fmt: skip

    outputs = [verdict, board, plot, per_class, published, worst, raw]
    picker.wire(on_evaluate, run, [upload, task, models, mapping, backend], outputs, "evaluate",
                policy)  # fmt: skip
    events: dict[str, Any] = dict(
        api_visibility="private", preprocess=False, **policy.event_kwargs()
    )
    task.change(picker.user_errors(switch_task, "evaluate_task", policy), inputs=[task],
                outputs=[models, mapping, upload_info], **events)  # fmt: skip
    propose = picker.user_errors(propose_mapping, "evaluate_mapping", policy)
    for trigger in (upload.change, models.change):
        trigger(propose, inputs=[upload, task, models], outputs=[mapping, upload_info], **events)
