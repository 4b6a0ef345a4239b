"""PSPNet: Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017 (arXiv:1612.01105).

Backbone dilated to output stride 8; a pyramid pooling module pools the deepest features into
1×1, 2×2, 3×3 and 6×6 bins, reduces each to C/4 channels with a 1×1 conv, upsamples them and
concatenates them with the features; a 3×3 conv (512 channels), dropout 0.1 and a 1×1
classifier follow. An auxiliary FCN head on stage 3 adds a loss weighted 0.4 in training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.models import generate_default_cfgs, register_model
from torch import Tensor, nn

from ._mmseg import mmseg_cfgs
from ._seg import (
    AdaptiveAvgPool2d,
    SegmentationModel,
    build_segmentation,
    conv_bn_relu,
    seg_cfg,
)


class PyramidPooling(nn.Module):
    """``(B, C, h, w) → (B, 2C, h, w)``: the input and its pooled, reduced, upsampled pyramid."""

    def __init__(self, in_channels: int, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        reduced = in_channels // len(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(AdaptiveAvgPool2d(b), *conv_bn_relu(in_channels, reduced)) for b in bins
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        levels = [x]
        for stage in self.stages:
            levels.append(F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False))
        return torch.cat(levels, dim=1)


class PSPDecoder(nn.Module):
    """Pyramid pooling on the deepest features, then a 3×3 conv-BN-ReLU."""

    def __init__(self, in_channels: int, bins: tuple[int, ...], channels: int = 512) -> None:
        super().__init__()
        self.ppm = PyramidPooling(in_channels, bins)
        self.bottleneck = conv_bn_relu(
            in_channels + len(bins) * (in_channels // len(bins)), channels, 3
        )

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.bottleneck(self.ppm(features[-1]))


class PSPNet(SegmentationModel):
    """PSPNet on any timm backbone: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    Args:
        backbone: timm backbone name (default ``resnet50``, dilated to output stride 8).
        bins: Pyramid bin sizes.
        aux_head: Auxiliary FCN head on stage 3 (loss weight ``aux_weight`` = 0.4).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel`.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        bins: tuple[int, ...] = (1, 2, 3, 6),
        aux_head: bool = True,
        **kwargs: Any,
    ) -> None:
        self.bins = tuple(bins)
        kwargs.setdefault("drop_rate", 0.1)
        kwargs.setdefault("aux_weight", 0.4)
        super().__init__(backbone=backbone, aux_head=aux_head, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        return PSPDecoder(channels[-1], self.bins), 512


default_cfgs = generate_default_cfgs(
    {
        "pspnet": seg_cfg("resnet50", paper_ids="arXiv:1612.01105"),
        "pspnet_resnet50": seg_cfg("resnet50", paper_ids="arXiv:1612.01105"),
        "pspnet_tf_efficientnet_lite0": seg_cfg(
            "tf_efficientnet_lite0", paper_ids="arXiv:1612.01105"
        ),
        **mmseg_cfgs("pspnet_resnet50c", "resnet50c", "arXiv:1612.01105"),
    }
)


def _psp(variant: str, pretrained: bool, **kwargs: Any) -> PSPNet:
    return build_segmentation(PSPNet, variant, pretrained, **kwargs)  # type: ignore[return-value]


@register_model
def pspnet(pretrained: bool = False, **kwargs: Any) -> PSPNet:
    """PSPNet on any timm backbone (``backbone=...``, default ResNet-50)."""
    return _psp("pspnet", pretrained, **kwargs)


@register_model
def pspnet_resnet50(pretrained: bool = False, **kwargs: Any) -> PSPNet:
    """PSPNet-ResNet-50, output stride 8, bins 1/2/3/6, auxiliary head (weight 0.4)."""
    return _psp("pspnet_resnet50", pretrained, backbone="resnet50", **kwargs)


@register_model
def pspnet_tf_efficientnet_lite0(pretrained: bool = False, **kwargs: Any) -> PSPNet:
    """PSPNet on EfficientNet-Lite0, output stride 8 (backbone weights offline)."""
    return _psp(
        "pspnet_tf_efficientnet_lite0", pretrained, backbone="tf_efficientnet_lite0", **kwargs
    )


@register_model
def pspnet_resnet50c(pretrained: bool = False, **kwargs: Any) -> PSPNet:
    """PSPNet on ResNet-50-C (deep 3×3 stem), output stride 8: mmsegmentation's PSPNet-R50-D8
    (its ResNetV1c backbone), which its Cityscapes, ADE20K and VOC weights load into."""
    return _psp("pspnet_resnet50c", pretrained, backbone="resnet50c", **kwargs)
