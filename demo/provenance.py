"""Where a model's weights came from, in words a visitor reads: data set, origin, licence,
with links (the zoo's metadata per pretrained tag, via :func:`zoo.model_info`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import zoo

HUB = "https://huggingface.co"
PYPI = "https://pypi.org/project"
TORCHVISION = "https://pytorch.org/vision/stable/models.html#semantic-segmentation"
MMSEG = "https://github.com/open-mmlab/mmsegmentation"
#: timm tag parts naming a training set.
_TAG_DATASETS = {
    "in1k": "ImageNet-1k",
    "in12k": "ImageNet-12k",
    "in21k": "ImageNet-21k",
    "in22k": "ImageNet-22k",
}
_DATASET_NAMES = {"imagenet-1k": "ImageNet-1k", **{k: v for k, v in _TAG_DATASETS.items()}}
_LICENSES = {
    "apache-2.0": "Apache-2.0",
    "bsd-3-clause": "BSD-3-Clause",
    "mit": "MIT",
    "cc-by-4.0": "CC BY 4.0",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
}


def _link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def dataset_words(info: zoo.ModelInfo) -> str | None:
    """The training data in words (linked when the zoo knows its page), or None."""
    if info.dataset:
        try:
            known = zoo.dataset_info(info.dataset)
        except zoo.ZooError:
            return _DATASET_NAMES.get(info.dataset.lower(), info.dataset)
        return _link(known.title, known.url)
    tag = info.name.partition(".")[2]
    parts = [_TAG_DATASETS[p] for p in re.split(r"[_.]", tag) if p in _TAG_DATASETS]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]}, fine-tuned on {parts[-1]}"


def origin_words(info: zoo.ModelInfo) -> str:
    """Where the weight file comes from (its :class:`zoo.weights.WeightSource`), with a link
    where there is one."""
    weights = info.weights
    if weights.kind == "bundled":
        converted = info.source.get("url")
        note = f", converted from {_link('the original', converted)}" if converted else ""
        return f"vision-zoo itself (bundled, works offline){note}"
    if weights.kind == "installed":
        package = weights.location
        return f"the PyPI package {_link(package, f'{PYPI}/{package}/')} (works offline)"
    if weights.kind in ("hub", "hf-hub"):
        repo = weights.location.partition("@")[0]
        return f"the Hugging Face Hub, {_link(repo, f'{HUB}/{repo}')}"
    if weights.kind == "local-dir":
        return "a model saved on this server (local-dir:)"
    if weights.kind == "url":
        host = urlsplit(weights.location).netloc
        if host == "download.pytorch.org":
            return f"{_link('torchvision', TORCHVISION)}'s published checkpoint"
        if host.endswith("openmmlab.com"):
            config = info.source.get("config")
            named = f" ({config})" if config else ""
            return f"{_link('OpenMMLab mmsegmentation', MMSEG)}'s model zoo{named}"
        return (
            f"a published checkpoint on {_link(host, weights.location)}" if host else "a download"
        )
    return "no published source"


def license_words(info: zoo.ModelInfo) -> str | None:
    """The weights' licence as its short name, or None when unknown."""
    if not info.license:
        return None
    return _LICENSES.get(info.license.lower(), info.license)


def weights_line(info: zoo.ModelInfo) -> str:
    """One Markdown sentence: ``Weights: trained on …, from …; licence ….``"""
    data = dataset_words(info)
    text = "Weights: " + (f"trained on {data}, from " if data else "from ") + origin_words(info)
    licence = license_words(info)
    return text + (f"; licence {licence}." if licence else ".")
