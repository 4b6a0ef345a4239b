"""mmsegmentation 1.2.2 as the reference implementation of the mmseg tags (tests only).

mmsegmentation imports ``mmcv.ops`` in four modules that PSPNet, DeepLabV3(+) and FCN-HRNet
never use; ``mmcv-lite`` has no compiled ops, so a stand-in module whose members fail only when
called is installed first. Models are built from the configs shipped inside the wheel, with
``SyncBN`` replaced by ``BN`` (one process, CPU).
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn


class _MissingOps(types.ModuleType):
    """``mmcv.ops`` without its compiled extension: any member raises when used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"mmcv.ops.{name} needs the full mmcv (compiled ops)")

        return type(name, (), {"__init__": unavailable})


def available() -> bool:
    return importlib.util.find_spec("mmseg") is not None


def _import() -> Any:
    sys.modules.setdefault("mmcv.ops", _MissingOps("mmcv.ops"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mmseg
        import mmseg.models
        from mmseg.utils import register_all_modules

        register_all_modules()
    return mmseg


def _plain_bn(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "type" and value == "SyncBN":
                node[key] = "BN"
            _plain_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _plain_bn(value)


def config(name: str) -> Any:
    """The mmengine ``Config`` of ``name`` (e.g. ``pspnet_r50-d8_4xb2-80k_cityscapes-512x1024``)
    from the configs shipped inside the mmsegmentation wheel."""
    mmseg = _import()
    from mmengine import Config

    family = "hrnet" if name.startswith("fcn_hr") else name.split("_")[0]
    return Config.fromfile(
        str(Path(mmseg.__file__).parent / ".mim" / "configs" / family / f"{name}.py")
    )


def build(cfg: Any) -> nn.Module:
    """mmsegmentation's model for a config, with random weights, in eval mode."""
    from mmseg.registry import MODELS

    model_cfg = cfg.model.copy()
    model_cfg.pop("data_preprocessor", None)
    model_cfg.pop("pretrained", None)
    _plain_bn(model_cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS.build(model_cfg)
    return model.eval()


def forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits of the decode head and of the auxiliary head, both resized to the input as
    mmsegmentation's ``EncoderDecoder`` does at test time."""
    from mmseg.models.utils import resize

    metas = [dict(img_shape=tuple(x.shape[-2:]), ori_shape=tuple(x.shape[-2:]))] * len(x)
    with torch.no_grad():
        logits = model.encode_decode(x, metas)
        aux = None
        if getattr(model, "with_auxiliary_head", False):
            features = model.extract_feat(x)
            aux = resize(
                model.auxiliary_head.forward(features),
                size=x.shape[-2:],
                mode="bilinear",
                align_corners=model.align_corners,
            )
    return logits, aux


def seeded(name: str, shape: torch.Size, seed: int = 0) -> torch.Tensor:
    """A tensor that depends only on ``name``, ``shape`` and ``seed`` (machine-independent),
    scaled like an initialisation so that logits stay O(1) (max |logit| 0.3–1.0 for the five
    golden architectures), where an absolute tolerance of 1e-4 is meaningful."""
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()) + seed)
    u = torch.rand(shape, generator=generator, dtype=torch.float64)  # U(0, 1)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        values = 0.5 + 1.5 * u
    elif leaf == "running_mean":
        values = u - 0.5
    elif leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    elif len(shape) == 1:  # BN weight/bias, conv bias (BN gains < 1 keep HRNet's sums O(1))
        values = 0.2 + 0.4 * u if leaf == "weight" else 0.4 * (u - 0.5)
    else:  # conv weight (out, in/groups, kh, kw): uniform with variance 1 / fan_in
        fan_in = shape[1:].numel()
        values = (u * 2 - 1) * (3.0 / fan_in) ** 0.5
    return values.float()


def fill(model: nn.Module, key_of: dict[str, str] | None = None, seed: int = 0) -> nn.Module:
    """Give every tensor of ``model`` its :func:`seeded` value, named by ``key_of[key]`` (so a
    reference and a converted model get equal tensors) or by its own key."""
    state = model.state_dict()
    values = {
        k: seeded((key_of or {}).get(k, k), v.shape, seed).to(v.dtype) for k, v in state.items()
    }
    model.load_state_dict(values, strict=True)
    return model


# Golden values: a few logits of the reference models on a fixed input, stored so that a test
# without mmsegmentation installed still catches a change of the architectures' outputs.
GOLDEN_PATH = Path(__file__).with_name("golden_segmentation.json")
GOLDEN_TAGS = (
    "pspnet_resnet50c.mmseg_cityscapes_512x1024",
    "deeplabv3_resnet50c.mmseg_cityscapes_512x1024",
    "deeplabv3plus_resnet50c.mmseg_cityscapes_512x1024",
    "hrnetv2_w18.mmseg_cityscapes_512x1024",
    "hrnetv2_w48.mmseg_cityscapes_512x1024",
)
GOLDEN_SIZE = (67, 93)  # no multiple of 32


def golden_input() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, *GOLDEN_SIZE, generator=generator)


def golden_points(num_classes: int) -> list[tuple[int, int, int]]:
    """(class, y, x) positions sampled from the logits: corners, centre, odd offsets."""
    h, w = GOLDEN_SIZE
    spots = [(0, 0), (h - 1, w - 1), (h // 2, w // 2), (5, w - 7), (h - 3, 11), (31, 64)]
    return [(i * 7 % num_classes, y, x) for i, (y, x) in enumerate(spots)]


def reference_golden(tag: str) -> list[float]:
    """The reference model's logits at :func:`golden_points`, its tensors filled by
    :func:`seeded` under the zoo's key names (so the zoo model filled the same way must agree)."""
    from zoo.convert import mmseg_segmentation_to_zoo
    from zoo.models._mmseg import CHECKPOINTS

    architecture, _, tag_name = tag.partition(".")
    dataset = tag_name.split("_")[1]
    model = build(config(CHECKPOINTS[architecture, dataset].config))
    state = model.state_dict()
    fill(model, key_of=dict(zip(state, mmseg_segmentation_to_zoo(state), strict=True)))
    logits, _ = forward(model, golden_input())
    return [logits[0, k, y, x].item() for k, y, x in golden_points(logits.shape[1])]


# Key layouts: every tensor name and shape of one reference model per architecture, stored so
# that the converter's rules are checked without mmsegmentation installed.
LAYOUTS_PATH = Path(__file__).parent / "data" / "mmseg_key_layouts.json.gz"


def key_layout(tag: str) -> list[tuple[str, list[int]]]:
    """``[(key, shape), ...]`` of the reference model of ``tag``, in state-dict order."""
    from zoo.models._mmseg import CHECKPOINTS

    architecture, _, tag_name = tag.partition(".")
    dataset = tag_name.split("_")[1]
    state = build(config(CHECKPOINTS[architecture, dataset].config)).state_dict()
    return [(key, list(value.shape)) for key, value in state.items()]


def write_key_layouts() -> None:
    import gzip
    import json

    layouts = {tag: key_layout(tag) for tag in GOLDEN_TAGS}
    with gzip.open(LAYOUTS_PATH, "wt", encoding="utf-8") as file:
        json.dump(layouts, file)


def stored_key_layouts() -> dict[str, list[tuple[str, list[int]]]]:
    import gzip
    import json

    with gzip.open(LAYOUTS_PATH, "rt", encoding="utf-8") as file:
        return {
            tag: [(k, list(shape)) for k, shape in rows] for tag, rows in json.load(file).items()
        }


def write_golden() -> None:
    """Regenerate :data:`GOLDEN_PATH` (and, by ``python tests/zoo/mmseg_reference.py``,
    :data:`LAYOUTS_PATH`) from mmsegmentation."""
    import json

    values = {tag: reference_golden(tag) for tag in GOLDEN_TAGS}
    GOLDEN_PATH.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_golden()
    write_key_layouts()
