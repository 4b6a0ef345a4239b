"""State-dict converters from foreign key layouts to the zoo's (timm's) layouts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .errors import CheckpointError

# efficientnet-pytorch (lukemelas) names -> timm EfficientNet names.
_EFFNET_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Depthwise-separable block (expansion ratio 1, the first stage).
_EFFNET_DS = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
# Inverted-residual block.
_EFFNET_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def efficientnet_pytorch_to_timm(
    state_dict: dict[str, Tensor], model: nn.Module
) -> dict[str, Tensor]:
    """Rename an ``efficientnet-pytorch`` state dict to timm's EfficientNet layout.

    ``efficientnet-pytorch`` numbers its blocks flat (``_blocks.7``); timm nests them by stage
    (``blocks.2.1``). The stage layout is read from ``model`` so the same converter serves
    every width/depth multiplier (lite0, lite1, lite2, ...).

    Args:
        state_dict: Keys such as ``_conv_stem.weight`` or ``_blocks.3._depthwise_conv.weight``.
        model: The timm EfficientNet that will receive the weights (its ``blocks`` attribute
            gives the stage/block positions).

    Returns:
        A new dict with timm keys and the same tensors.

    Raises:
        KeyError: A key that has no counterpart in timm's layout.
    """
    stages: Any = model.blocks
    positions = [(s, i) for s, stage in enumerate(stages) for i in range(len(stage))]
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        head, *rest = key.split(".")
        if head == "_blocks":
            flat, layer, *param = rest
            stage, index = positions[int(flat)]
            block = stages[stage][index]
            table = _EFFNET_IR if hasattr(block, "conv_pwl") else _EFFNET_DS
            if layer not in table:
                raise KeyError(f"unexpected efficientnet-pytorch key {key!r}")
            out[".".join(["blocks", str(stage), str(index), table[layer], *param])] = value
        elif head in _EFFNET_TOP:
            out[".".join([_EFFNET_TOP[head], *rest])] = value
        else:
            raise KeyError(f"unexpected efficientnet-pytorch key {key!r}")
    return out


# torchvision segmentation checkpoints (fcn_resnet50, deeplabv3_resnet50) -> zoo layout.
# Prefix renames, most specific first.
_TV_COMMON = (
    ("backbone.", "encoder."),
    ("aux_classifier.0.", "aux_head.conv.0."),
    ("aux_classifier.1.", "aux_head.conv.1."),
    ("aux_classifier.4.", "aux_head.classifier."),
)
_TV_LAYOUTS = {
    "fcn": (
        ("classifier.0.", "decoder.0."),
        ("classifier.1.", "decoder.1."),
        ("classifier.4.", "classifier."),
    ),
    "deeplabv3": (
        ("classifier.0.convs.4.", "decoder.aspp.pool."),  # ASPPPooling: pool, conv, bn, relu
        ("classifier.0.convs.", "decoder.aspp.convs."),
        ("classifier.0.project.", "decoder.aspp.project."),
        ("classifier.1.", "decoder.head.0."),
        ("classifier.2.", "decoder.head.1."),
        ("classifier.4.", "classifier."),
    ),
}


def torchvision_segmentation_to_zoo(
    state_dict: dict[str, Tensor], layout: str
) -> dict[str, Tensor]:
    """Rename a torchvision ``fcn_*`` / ``deeplabv3_*`` state dict to the zoo's layout.

    Args:
        state_dict: torchvision keys (``backbone.layer1.0.conv1.weight``, ``classifier.4.bias``,
            ``aux_classifier.0.weight``, ...).
        layout: ``"fcn"`` or ``"deeplabv3"``.

    Returns:
        A new dict with zoo keys and the same tensors.

    Raises:
        KeyError: Unknown layout, or a key with no counterpart.
    """
    renames = _TV_LAYOUTS[layout] + _TV_COMMON
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        for old, new in renames:
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
        else:
            raise KeyError(f"unexpected torchvision {layout} key {key!r}")
    return out


def is_torchvision_segmentation(state_dict: dict[str, Tensor]) -> bool:
    """Whether keys follow torchvision's segmentation layout (``backbone.``, ``classifier.0.``)."""
    return any(k.startswith("backbone.") for k in state_dict) and any(
        k.startswith("classifier.0.") for k in state_dict
    )


# mmsegmentation checkpoints ({"meta", "state_dict"}) -> zoo layout. Each rule renames a key
# prefix; where the rest of the key is an mmcv ConvModule (``conv``/``bn``) or
# DepthwiseSeparableConvModule (``depthwise_conv.{conv,bn}``, ``pointwise_conv.{conv,bn}``),
# the rule gives the position of that module's conv inside our conv-BN-ReLU Sequential.
_Rule = tuple[str, str, "int | None"]
_MMSEG_COMMON: tuple[_Rule, ...] = (
    (r"backbone\.stem\.7\.", "encoder.bn1.", None),  # ResNetV1c deep stem -> timm resnet*c
    (r"backbone\.stem\.([0-6])\.", r"encoder.conv1.\1.", None),
    (r"backbone\.", "encoder.", None),
    (r"decode_head\.conv_seg\.", "classifier.", None),
    (r"auxiliary_head\.conv_seg\.", "aux_head.classifier.", None),
    (r"auxiliary_head\.convs\.0\.", "aux_head.conv.", 0),
)
_MMSEG_HEADS: dict[str, tuple[_Rule, ...]] = {
    "psp": (  # PSPHead
        (r"decode_head\.psp_modules\.(\d+)\.1\.", r"decoder.ppm.stages.\1.", 1),
        (r"decode_head\.bottleneck\.", "decoder.bottleneck.", 0),
    ),
    "aspp": (  # ASPPHead and DepthwiseSeparableASPPHead
        (r"decode_head\.image_pool\.1\.", "decoder.aspp.pool.", 1),
        (r"decode_head\.aspp_modules\.(\d+)\.", r"decoder.aspp.convs.\1.", 0),
        (r"decode_head\.bottleneck\.", "decoder.aspp.project.", 0),
        (r"decode_head\.c1_bottleneck\.", "decoder.low_level.", 0),
        (r"decode_head\.sep_bottleneck\.(\d+)\.", r"decoder.fuse.\1.", 0),
    ),
    "fcn": ((r"decode_head\.convs\.0\.", "decoder.fuse.", 0),),  # FCNHead over HRNet
}
_CONV_MODULE = re.compile(r"(?:(depthwise_conv|pointwise_conv)\.)?(conv|bn)\.(.+)")
_POSITION = {
    (None, "conv"): 0,
    (None, "bn"): 1,
    ("depthwise_conv", "conv"): 0,
    ("depthwise_conv", "bn"): 1,
    ("pointwise_conv", "conv"): 3,
    ("pointwise_conv", "bn"): 4,
}


def is_mmseg_segmentation(state_dict: Mapping[str, Any]) -> bool:
    """Whether keys follow mmsegmentation's ``EncoderDecoder`` layout."""
    return "decode_head.conv_seg.weight" in state_dict and any(
        k.startswith("backbone.") for k in state_dict
    )


def _mmseg_head(state_dict: Mapping[str, Any]) -> str:
    if any(k.startswith("decode_head.psp_modules.") for k in state_dict):
        return "psp"
    if any(k.startswith("decode_head.image_pool.") for k in state_dict):
        return "aspp"
    return "fcn"


def mmseg_segmentation_to_zoo(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename an mmsegmentation PSPNet / DeepLabV3 / DeepLabV3+ / FCN-HRNet state dict to the
    zoo's layout (``pspnet_resnet50c``, ``deeplabv3_resnet50c``, ``deeplabv3plus_resnet50c``,
    ``hrnetv2_w*``).

    Args:
        state_dict: mmsegmentation keys (``backbone.stem.0.weight``,
            ``decode_head.aspp_modules.1.depthwise_conv.bn.running_var``,
            ``auxiliary_head.conv_seg.bias``, ...).

    Returns:
        A new dict with zoo keys and the same tensors.

    Raises:
        KeyError: A key with no counterpart in the zoo's layout.
    """
    rules = _MMSEG_COMMON + _MMSEG_HEADS[_mmseg_head(state_dict)]
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        for pattern, replacement, position in rules:
            match = re.match(pattern, key)
            if match is None:
                continue
            rest = key[match.end() :]
            if position is not None:
                module = _CONV_MODULE.fullmatch(rest)
                if module is None:
                    raise KeyError(f"unexpected mmsegmentation key {key!r}")
                part, layer, param = module.groups()
                rest = f"{position + _POSITION[part, layer]}.{param}"
            out[match.expand(replacement) + rest] = value
            break
        else:
            raise KeyError(f"unexpected mmsegmentation key {key!r}")
    return out


def segmentation_checkpoint_filter(
    state_dict: dict[str, Tensor], model: nn.Module
) -> dict[str, Tensor]:
    """timm ``pretrained_filter_fn`` of the segmentation models: converts mmsegmentation
    checkpoints, and torchvision checkpoints for models that mirror torchvision's layout, and
    passes native (zoo) checkpoints through."""
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]  # mmsegmentation: {"meta", "state_dict"}
    try:
        if is_mmseg_segmentation(state_dict):
            return mmseg_segmentation_to_zoo(state_dict)
        layout = getattr(model, "torchvision_layout", None)
        if layout and is_torchvision_segmentation(state_dict):
            return torchvision_segmentation_to_zoo(state_dict, layout)
    except KeyError as exc:
        raise CheckpointError(
            f"This checkpoint's layout is not one the zoo converts ({exc.args[0]}); "
            f"{type(model).__name__} loads mmsegmentation's PSPNet, DeepLabV3(+) and "
            "FCN-HRNetV2 checkpoints and torchvision's FCN/DeepLabV3 ones."
        ) from None
    return state_dict


#: Key converters for installed weight packages, by the name a record gives
#: (:attr:`zoo.meta.InstalledWeights.converter`).
CONVERTERS = {"efficientnet_pytorch": efficientnet_pytorch_to_timm}
