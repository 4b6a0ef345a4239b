"""Publishing a model to the Hugging Face Hub: weights, config and a model card."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from .catalog import measured_note
from .errors import ConfigError, HubUnreachableError
from .factory import ModelInfo, model_info
from .hub import hub_endpoint, hub_reachable
from .io import save_pretrained, timm_only
from .meta import TestResize

PIPELINE_TAGS = {"classification": "image-classification", "segmentation": "image-segmentation"}
_MAX_LABELS_IN_CARD = 50


def _numeric(metrics: Mapping[str, float | str]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "epoch"}


def check_repo_id(repo_id: object) -> None:
    """Raise :class:`~zoo.ConfigError` unless ``repo_id`` is a valid ``org/name``."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    valid = isinstance(repo_id, str) and repo_id.count("/") == 1 and all(repo_id.split("/"))
    if valid:
        try:
            validate_repo_id(str(repo_id))
        except HFValidationError:
            valid = False
    if not valid:
        raise ConfigError(
            f"repo_id must look like 'org/name' (letters, digits, '-', '_', '.'), got {repo_id!r}"
        )


def model_card(info: ModelInfo, repo_id: str) -> str:
    """The ``README.md`` model card of a saved model: YAML front matter (``library_name``,
    ``tags``, ``license``, ``datasets``, ``pipeline_tag``, ``model-index`` with the metrics) and a
    body with usage, the test-time resize, labels, data set, evaluation, the source of converted
    weights (original URL, sha256, whether it is the published file) and the licence of the
    weights together with the data set's terms of use.

    Args:
        info: :func:`zoo.model_info` of the saved directory (``local-dir:...``).
        repo_id: ``org/name`` on the Hub.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    pipeline_tag = PIPELINE_TAGS[info.task]
    metrics = _numeric(info.metrics)
    eval_results = [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type=info.dataset or "custom",
            dataset_name=info.dataset or "custom",
            metric_type=name,
            metric_name=name,
            metric_value=value,
        )
        for name, value in metrics.items()
    ]
    data = ModelCardData(
        library_name="timm",
        tags=["vision-zoo", "timm", pipeline_tag],
        license=info.license or "apache-2.0",
        datasets=[info.dataset] if info.dataset else None,
        pipeline_tag=pipeline_tag,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_card_body(info, repo_id, metrics)}"))


def _card_body(info: ModelInfo, repo_id: str, metrics: dict[str, float]) -> str:
    size = info.input_size
    lines = [f"# {repo_id.split('/')[-1]}", "", _summary(info)]
    if info.source.get("sha256_matches_published") == "no":
        lines += ["", _NOT_PUBLISHED]
    lines += ["", "## Usage", "", *_usage(info, repo_id), "",
              f"Inputs: RGB, {size[1]}×{size[2]} nominal, normalised with mean {info.mean} and "
              f"std {info.std}."]  # fmt: skip
    if info.test_resize is not None:
        lines += ["", f"Test-time resize: {describe_resize(info.test_resize)}."]
    if info.paper_ids:
        lines += ["", f"Architecture: {', '.join(info.paper_ids)}."]
    note = measured_note(info.architecture)
    if note:
        lines += ["", "## Measured in vision-zoo", "", note]
    lines += ["", "## Labels", "", *_label_table(info)]
    if len(info.labels) > _MAX_LABELS_IN_CARD:
        lines.append(f"| … | {len(info.labels) - _MAX_LABELS_IN_CARD} more (see `config.json`) |")
    lines += _training_section(info, metrics)
    lines += _source_section(info.source)
    lines += ["", "## Licence", "", _licence_line(info)]
    return "\n".join(lines) + "\n"


def _summary(info: ModelInfo) -> str:
    kind = "a timm architecture" if timm_only(info.architecture) else "a vision-zoo architecture"
    return (
        f"A {info.task} model (`{info.architecture}`, {kind}; {info.params / 1e6:.2f} M "
        "parameters) published with [vision-zoo](https://pypi.org/project/vision-zoo/)."
    )


def _usage(info: ModelInfo, repo_id: str) -> list[str]:
    """The Usage section: what to install, then one Python snippet that imports exactly that
    (plain timm for timm's own architectures; ``import zoo`` first for the zoo's)."""
    name = f"hf-hub:{repo_id}"
    load = f'model = timm.create_model("{name}", pretrained=True).eval()'
    if timm_only(info.architecture):
        return [
            f"`{info.architecture}` is a timm architecture: timm alone loads these weights.",
            "", "```bash", "pip install timm", "```", "",
            "```python", "import timm", "", load, "```", "",
            f'With vision-zoo installed, `zoo.create_model("{name}", pretrained=True)` loads it '
            "too, with the zoo's pre- and post-processing (`zoo.classify`, `zoo.segment`).",
        ]  # fmt: skip
    return [
        f"`{info.architecture}` is a vision-zoo architecture that plain timm does not know: "
        "install vision-zoo (it brings timm) and `import zoo` before `timm.create_model`, "
        "which registers the zoo's architectures in timm's registry.",
        "", "```bash", "pip install vision-zoo", "```", "",
        "```python", "import timm", "import zoo  # registers "
        f"{info.architecture} in timm", "", load, "```", "",
        f'Or, with the zoo\'s own loader: `zoo.create_model("{name}", pretrained=True)`.',
    ]  # fmt: skip


def _label_table(info: ModelInfo) -> list[str]:
    """Class ids and names, with the mask colour of each class for segmentation."""
    shown = info.labels[:_MAX_LABELS_IN_CARD]
    if info.palette is not None:
        lines = ["| id | label | colour (RGB) |", "|---|---|---|"]
        lines += [f"| {i} | {name} | {tuple(info.palette[i])} |" for i, name in enumerate(shown)]
    else:
        lines = ["| id | label |", "|---|---|"]
        lines += [f"| {i} | {name} |" for i, name in enumerate(shown)]
    return lines


_NOT_PUBLISHED = (
    "**These weights are NOT the published checkpoint**: the converted file's sha256 does not "
    "match the published hash (see *Source*), so the published metrics below do not describe "
    "them."
)


def describe_resize(resize: TestResize) -> str:
    """A test-time resize policy in words (``keep_ratio (0, 520)`` → short side to 520 px)."""
    long_side, short_side = resize.size
    if resize.mode == "whole":
        return f"the whole image resized to {long_side}×{short_side} px (width × height)"
    limit = f", long side at most {long_side} px" if long_side else ""
    return f"aspect ratio kept, short side resized to {short_side} px{limit}"


def _training_section(info: ModelInfo, metrics: dict[str, float]) -> list[str]:
    notes = {k: v for k, v in info.metrics.items() if isinstance(v, str)}
    if not (info.dataset or metrics or notes):
        return []
    lines = ["", "## Training details", ""]
    if info.dataset:
        lines.append(f"Data set: {info.dataset}.")
    if metrics:
        published = " (published with the original weights)" if info.source else ""
        lines += ["", f"Evaluation{published}:", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {value:.4g} |" for name, value in metrics.items()]
    lines += [f"\n{name.capitalize()}: {value}." for name, value in notes.items()]
    return lines


_SOURCE_LABELS = {
    "url": "Original file",
    "sha256": "sha256 of the converted file",
    "config": "Training config",
    "framework": "Trained with",
}
_MATCHES = {
    "yes": "the file matches the hash in its published name",
    "no": "the file does NOT match the published hash: it is not the published checkpoint",
    "unknown": "the published name carries no hash to compare with",
}


def _source_section(source: Mapping[str, str]) -> list[str]:
    if not source:
        return []
    lines = ["", "## Source", ""]
    for key, value in source.items():
        if key == "sha256_matches_published":
            lines.append(f"- Published hash: {_MATCHES.get(value, value)}.")
        elif key in _SOURCE_LABELS:
            lines.append(f"- {_SOURCE_LABELS[key]}: `{value}`")
        else:
            lines.append(f"- {key}: {value}")
    lines += [
        "",
        "Converted to safetensors with [vision-zoo](https://pypi.org/project/vision-zoo/).",
    ]
    return lines


def _licence_line(info: ModelInfo) -> str:
    stated = f"Licence of the weights: {info.license or 'apache-2.0'}."
    if not info.data_license:
        return stated
    return f"{stated} The data set's terms also apply: {info.data_license}"


def push_to_hub(
    model: nn.Module | str | os.PathLike[str],
    repo_id: str,
    *,
    metrics: Mapping[str, float] | None = None,
    dataset: str | None = None,
    labels: list[str] | None = None,
    private: bool = False,
    commit_message: str = "Upload model with vision-zoo",
    revision: str | None = None,
    token: str | None = None,
) -> str:
    """Upload ``model.safetensors``, ``config.json`` and a ``README.md`` model card to the Hub.

    ``config.json`` is what :func:`zoo.save_pretrained` writes (timm keys, architecture
    arguments, ``id2label``/``label2id``, the zoo record), so
    ``zoo.create_model("hf-hub:" + repo_id, pretrained=True)`` restores the same model.

    Args:
        model: The model to publish, or a directory written by :func:`zoo.save_pretrained`
            (uploaded as it is, with the metrics and data set recorded there).
        repo_id: ``org/name``; created if missing.
        metrics: Evaluation results for the card and ``config.json`` (models only); mIoU,
            top1 and the like in percent.
        dataset: Data set the model was trained/evaluated on (models only).
        labels: Class names (models only; default: the model's own).
        private: Create the repository as private.
        commit_message: Message of the upload commit.
        revision: Branch to commit to (default ``main``).
        token: Hub token (default: the logged-in one / ``HF_TOKEN``).

    Returns:
        The URL of the commit.

    Raises:
        HubUnreachableError: The Hub does not answer (nothing is uploaded).
        ConfigError: ``repo_id`` is not ``org/name``, or model-only arguments with a directory.
        CheckpointError: A directory that is not a saved model.
    """
    check_repo_id(repo_id)
    if not isinstance(model, nn.Module):
        if metrics is not None or dataset is not None or labels is not None:
            raise ConfigError("metrics, dataset and labels are recorded in a saved directory.")
        info = model_info(f"local-dir:{Path(model)}")  # a clear error for a wrong directory
    if not hub_reachable(refresh=True):
        raise HubUnreachableError(
            f"Cannot push '{repo_id}': the Hugging Face Hub at {hub_endpoint()} is unreachable. "
            "Save locally with zoo.save_pretrained(model, directory) and push it later."
        )
    if not isinstance(model, nn.Module):
        return _upload(Path(model), model_card(info, repo_id), repo_id, private, commit_message,
                       revision, token)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        save_pretrained(model, tmp, labels=labels, metrics=metrics, dataset=dataset)
        card = model_card(model_info(f"local-dir:{tmp}"), repo_id)
        return _upload(Path(tmp), card, repo_id, private, commit_message, revision, token)


def _upload(
    directory: Path,
    card: str,
    repo_id: str,
    private: bool,
    commit_message: str,
    revision: str | None,
    token: str | None,
) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    operations = [CommitOperationAdd(p.name, str(p)) for p in files if p.name != "README.md"]
    operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.create_commit(
            repo_id, operations, commit_message=commit_message, revision=revision
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = (
            " Check HF_TOKEN (huggingface-cli login) and that it may write to this repository."
            if status in (401, 403)
            else ""
        )
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"The Hub refused the upload to '{repo_id}' (HTTP {status}): {first}.{hint}"
        ) from exc
    return str(info.commit_url)
