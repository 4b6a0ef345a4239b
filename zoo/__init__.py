"""vision-zoo: image classification and semantic segmentation models by name, on timm.

Quick start::

    import zoo
    model = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True)
    zoo.classify(model, "cat.jpg")  # [("tiger cat", 0.378...), ...]: (label, float), best first
    result = zoo.segment(segmenter, "street.jpg")  # .mask, .overlay(), .class_shares()

Importing ``zoo`` registers its architectures in timm's registry; it opens no network
connection and does not import gradio.
"""

from typing import TYPE_CHECKING

from . import (
    models,  # noqa: F401  (registers the architectures in timm)
    pipeline,
)
from .atomic import Temporary, atomic_write
from .datasets import DatasetInfo, dataset_info
from .errors import (
    CheckpointError,
    ConfigError,
    HubUnreachableError,
    InvalidImageError,
    InvalidVideoError,
    MissingExtraError,
    UnknownModelError,
    WeightsUnavailableError,
    ZooError,
)
from .export import export
from .factory import ModelInfo, create_model, list_models, model_info
from .hub import hub_reachable
from .images import load_image
from .inference import classify
from .io import from_pretrained, save_pretrained
from .labels import get_labels, get_palette
from .push import push_to_hub
from .segment import SegmentationResult, segment, segment_logits
from .video import VideoResult, segment_frames, segment_video
from .weights import WeightSource

__version__ = "0.1.0"

#: Names whose module loads on first use: the ONNX Runtime layer stays out of a process that
#: runs PyTorch models only.
_LAZY = {"ORTModel": "runtime", "fastest_backend": "runtime"}

if TYPE_CHECKING:
    from .runtime import ORTModel, fastest_backend


def __getattr__(name: str) -> object:
    from importlib import import_module

    if name == "runtime":  # the module itself, as ``zoo.runtime.with_backend``
        return import_module(".runtime", __name__)
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetInfo",
    "HubUnreachableError",
    "InvalidImageError",
    "InvalidVideoError",
    "MissingExtraError",
    "ModelInfo",
    "ORTModel",
    "SegmentationResult",
    "Temporary",
    "UnknownModelError",
    "VideoResult",
    "WeightSource",
    "WeightsUnavailableError",
    "ZooError",
    "atomic_write",
    "classify",
    "create_model",
    "dataset_info",
    "export",
    "fastest_backend",
    "from_pretrained",
    "get_labels",
    "get_palette",
    "hub_reachable",
    "list_models",
    "load_image",
    "model_info",
    "pipeline",
    "push_to_hub",
    "save_pretrained",
    "segment",
    "segment_frames",
    "segment_logits",
    "segment_video",
]
