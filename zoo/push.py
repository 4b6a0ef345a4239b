"""Publishing a model to the Hugging Face Hub: weights, config and a model card."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from .errors import HubUnreachableError
from .hub import hub_endpoint, hub_reachable
from .io import save_pretrained
from .labels import get_labels
from .registry import model_task

PIPELINE_TAGS = {"classification": "image-classification", "segmentation": "image-segmentation"}
_MAX_LABELS_IN_CARD = 50


def model_card(
    model: nn.Module,
    repo_id: str,
    *,
    metrics: dict[str, float] | None = None,
    dataset: str | None = None,
    labels: list[str] | None = None,
) -> str:
    """The ``README.md`` model card: YAML front matter (``library_name``, ``tags``, ``license``,
    ``datasets``, ``pipeline_tag``, ``model-index`` with ``metrics``) and a body with usage,
    labels, architecture and training details.

    Args:
        model: The model being published.
        repo_id: ``org/name`` on the Hub.
        metrics: Evaluation results, e.g. ``{"mIoU": 0.81, "pixel_acc": 0.95}``.
        dataset: Data set the metrics were measured on (a Hub id or a name).
        labels: Class names (default: the model's own).
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    architecture = cfg.get("architecture", type(model).__name__)
    task = model_task(architecture)
    pipeline_tag = PIPELINE_TAGS[task]
    labels = labels if labels is not None else get_labels(model)
    eval_results = [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type=dataset or "custom",
            dataset_name=dataset or "custom",
            metric_type=name,
            metric_name=name,
            metric_value=float(value),
        )
        for name, value in (metrics or {}).items()
    ]
    data = ModelCardData(
        library_name="timm",
        tags=["vision-zoo", "timm", pipeline_tag],
        license=cfg.get("license") or "apache-2.0",
        datasets=[dataset] if dataset else None,
        pipeline_tag=pipeline_tag,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    body = _card_body(model, repo_id, cfg, task, labels, metrics, dataset)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def _card_body(
    model: nn.Module,
    repo_id: str,
    cfg: dict[str, Any],
    task: str,
    labels: list[str],
    metrics: dict[str, float] | None,
    dataset: str | None,
) -> str:
    architecture = cfg.get("architecture", type(model).__name__)
    params = sum(p.numel() for p in model.parameters())
    size = cfg.get("input_size", (3, 224, 224))
    lines = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A {task} model (`{architecture}`, {params / 1e6:.2f} M parameters) published with "
        "[vision-zoo](https://pypi.org/project/vision-zoo/); it also loads with timm.",
        "",
        "## Usage",
        "",
        "```python",
        "import zoo",
        "",
        f'model = zoo.create_model("hf-hub:{repo_id}", pretrained=True).eval()',
        "```",
        "",
        f"Inputs: RGB, {size[1]}×{size[2]} nominal, normalised with "
        f"mean {tuple(cfg.get('mean', ()))} and std {tuple(cfg.get('std', ()))}.",
    ]
    if cfg.get("paper_ids"):
        lines += ["", f"Architecture: {cfg['paper_ids']}."]
    lines += ["", "## Labels", "", "| id | label |", "|---|---|"]
    lines += [f"| {i} | {name} |" for i, name in enumerate(labels[:_MAX_LABELS_IN_CARD])]
    if len(labels) > _MAX_LABELS_IN_CARD:
        lines.append(f"| … | {len(labels) - _MAX_LABELS_IN_CARD} more (see `config.json`) |")
    if dataset or metrics:
        lines += ["", "## Training details", ""]
        if dataset:
            lines.append(f"Data set: {dataset}.")
        if metrics:
            lines += ["", "| metric | value |", "|---|---|"]
            lines += [f"| {name} | {value:.4g} |" for name, value in metrics.items()]
    return "\n".join(lines) + "\n"


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    metrics: dict[str, float] | None = None,
    dataset: str | None = None,
    labels: list[str] | None = None,
    private: bool = False,
    commit_message: str = "Upload model with vision-zoo",
    revision: str | None = None,
    token: str | None = None,
) -> str:
    """Upload ``model.safetensors``, ``config.json`` and a ``README.md`` model card to the Hub.

    ``config.json`` is what :func:`zoo.save_pretrained` writes (timm keys, architecture
    arguments, ``id2label``/``label2id``, palette, metrics), so
    ``zoo.create_model("hf-hub:" + repo_id, pretrained=True)`` restores the same model.

    Args:
        model: The model to publish.
        repo_id: ``org/name``; created if missing.
        metrics: Evaluation results for the card's ``model-index`` and ``config.json``.
        dataset: Data set the model was trained/evaluated on.
        labels: Class names (default: the model's own).
        private: Create the repository as private.
        commit_message: Message of the upload commit.
        revision: Branch to commit to (default ``main``).
        token: Hub token (default: the logged-in one / ``HF_TOKEN``).

    Returns:
        The URL of the commit.

    Raises:
        HubUnreachableError: The Hub does not answer (nothing is uploaded).
        ValueError: ``repo_id`` is not ``org/name``.
    """
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    if not hub_reachable(refresh=True):
        raise HubUnreachableError(
            f"Cannot push '{repo_id}': the Hugging Face Hub at {hub_endpoint()} is unreachable. "
            "Save locally with zoo.save_pretrained(model, directory) and push it later."
        )
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    extra = {"metrics": dict(metrics)} if metrics else None
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        save_pretrained(model, tmp, labels=labels, extra_config=extra)
        card = model_card(model, repo_id, metrics=metrics, dataset=dataset, labels=labels)
        (Path(tmp) / "README.md").write_text(card, encoding="utf-8")
        info = api.upload_folder(
            repo_id=repo_id, folder_path=tmp, commit_message=commit_message, revision=revision
        )
    return str(info)
