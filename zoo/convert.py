"""State-dict converters from foreign key layouts to the zoo's (timm's) layouts."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

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


def segmentation_checkpoint_filter(
    state_dict: dict[str, Tensor], model: nn.Module
) -> dict[str, Tensor]:
    """timm ``pretrained_filter_fn`` of the segmentation models: converts torchvision checkpoints
    for models that mirror torchvision's layout and passes native (zoo) checkpoints through."""
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    layout = getattr(model, "torchvision_layout", None)
    if layout and is_torchvision_segmentation(state_dict):
        return torchvision_segmentation_to_zoo(state_dict, layout)
    return state_dict


#: Key converters for installed weight packages, by the name a record gives
#: (:attr:`zoo.meta.InstalledWeights.converter`).
CONVERTERS = {"efficientnet_pytorch": efficientnet_pytorch_to_timm}
