"""vision-zoo: image classification and semantic segmentation models by name, on timm.

Quick start::

    import zoo
    model = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True)
    zoo.classify(model, "cat.jpg")  # [("tiger cat", 0.39), ...]

Importing ``zoo`` registers its architectures in timm's registry; it opens no network
connection and does not import gradio.
"""

from . import models  # noqa: F401  (registers the architectures in timm)
from .errors import (
    CheckpointError,
    HubUnreachableError,
    InvalidImageError,
    UnknownModelError,
    WeightsUnavailableError,
    ZooError,
)
from .factory import ModelInfo, create_model, list_models, model_info, weight_source
from .hub import hub_reachable
from .images import load_image
from .inference import classify, eval_transform
from .io import from_pretrained, save_pretrained
from .labels import get_labels
from .palettes import get_palette
from .push import model_card, push_to_hub
from .registry import model_task, published_metrics
from .sources import installed_weights, list_installed

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "HubUnreachableError",
    "InvalidImageError",
    "ModelInfo",
    "UnknownModelError",
    "WeightsUnavailableError",
    "ZooError",
    "classify",
    "create_model",
    "eval_transform",
    "from_pretrained",
    "get_labels",
    "get_palette",
    "hub_reachable",
    "installed_weights",
    "list_installed",
    "list_models",
    "load_image",
    "model_card",
    "model_info",
    "model_task",
    "published_metrics",
    "push_to_hub",
    "save_pretrained",
    "weight_source",
]
