"""DeepLabV3 and DeepLabV3+.

DeepLabV3: Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017
(arXiv:1706.05587): atrous spatial pyramid pooling (ASPP: a 1×1 conv, three 3×3 atrous convs at
rates 6/12/18 for output stride 16 — doubled to 12/24/36 at output stride 8 — and image-level
pooling), projected to 256 channels. ``deeplabv3_resnet50`` is torchvision's layout (3×3 conv
after ASPP, auxiliary FCN head) and loads its checkpoints.

DeepLabV3+: Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation", ECCV 2018 (arXiv:1802.02611): ASPP at output stride 16, upsampled ×4 and fused
with 48-channel projected stride-4 features by two 3×3 convs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.models import generate_default_cfgs, register_model
from torch import Tensor, nn

from ..errors import ConfigError
from ._mmseg import mmseg_cfgs
from ._seg import (
    SegmentationModel,
    build_segmentation,
    conv_bn_relu,
    seg_cfg,
    separable_conv_bn_relu,
)
from .fcn import tv_coco_voc

ASPP_RATES = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}
#: Head layouts: torchvision's DeepLabV3 (the default of ``DeepLabV3``), the DeepLabV3+ paper's
#: ResNet decoder (the default of ``DeepLabV3Plus``) and mmsegmentation's (both families).
LAYOUTS = ("torchvision", "paper", "mmseg")
V3_LAYOUTS = ("torchvision", "mmseg")
V3PLUS_LAYOUTS = ("paper", "mmseg")


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``(B, C, h, w) → (B, out_channels, h, w)``.

    Branches: a 1×1 conv, one 3×3 atrous conv per rate (depthwise-separable when
    ``separable``) and image-level pooling, each conv-BN-ReLU to ``out_channels``; they are
    concatenated and projected.

    Args:
        in_channels: Input channels C.
        rates: Dilation rates of the 3×3 branches.
        out_channels: Channels of every branch and of the projection.
        dropout: Dropout after a 1×1 projection.
        layout: ``"torchvision"``/``"paper"``: branches then pooling, projected by a 1×1
            conv-BN-ReLU and dropout. ``"mmseg"``: pooling first, projected by one 3×3
            conv-BN-ReLU without dropout (mmsegmentation's ``ASPPHead`` bottleneck).
        separable: Depthwise-separable atrous branches (DeepLabV3+'s, arXiv:1802.02611 §3.2).
    """

    def __init__(
        self,
        in_channels: int,
        rates: tuple[int, ...],
        out_channels: int = 256,
        dropout: float = 0.5,
        layout: str = "torchvision",
        separable: bool = False,
    ) -> None:
        super().__init__()
        _check_layout(layout, LAYOUTS)
        atrous = separable_conv_bn_relu if separable else conv_bn_relu
        self.pool_first = layout == "mmseg"
        self.convs = nn.ModuleList(
            [conv_bn_relu(in_channels, out_channels, 1)]
            + [atrous(in_channels, out_channels, 3, dilation=r) for r in rates]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(in_channels, out_channels))
        concat = out_channels * (len(rates) + 2)
        if self.pool_first:
            self.project: nn.Module = conv_bn_relu(concat, out_channels, 3)
        else:
            self.project = nn.Sequential(*conv_bn_relu(concat, out_channels), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pooled = F.interpolate(self.pool(x), size=size, mode="bilinear", align_corners=False)
        branches = [pooled] if self.pool_first else []
        for conv in self.convs:
            branches.append(conv(x))
        if not self.pool_first:
            branches.append(pooled)
        return self.project(torch.cat(branches, dim=1))  # (B, out_channels, h, w)


def _check_layout(layout: str, allowed: tuple[str, ...]) -> None:
    if layout not in allowed:
        raise ConfigError(f"layout must be one of {allowed}, got {layout!r}")


class DeepLabV3Decoder(nn.Module):
    """ASPP on the deepest features; torchvision's layout adds a 3×3 conv-BN-ReLU after it
    (mmsegmentation's ASPP already ends in one)."""

    def __init__(
        self,
        in_channels: int,
        rates: tuple[int, ...],
        channels: int = 256,
        layout: str = "torchvision",
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, rates, channels, layout=layout)
        self.head = conv_bn_relu(channels, channels, 3) if layout != "mmseg" else nn.Identity()

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.head(self.aspp(features[-1]))


class DeepLabV3(SegmentationModel):
    """DeepLabV3 on any timm backbone: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    ASPP rates follow the output stride (12/24/36 at 8, 6/12/18 at 16).

    Args:
        backbone: timm backbone name (default ``resnet50``, output stride 8).
        decoder_channels: Width of ASPP and the head (256 in torchvision, 512 in mmseg).
        layout: ``"torchvision"`` (ASPP, 1×1 projection with dropout 0.5, 3×3 conv; loads
            torchvision's checkpoints) or ``"mmseg"`` (pooling branch first, one 3×3
            bottleneck over the concatenation; loads mmsegmentation's).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel`.

    Raises:
        ConfigError: Unknown ``layout``.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        decoder_channels: int = 256,
        layout: str = "torchvision",
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, V3_LAYOUTS)
        self.decoder_channels = decoder_channels
        self.layout = layout
        self.torchvision_layout = "deeplabv3" if layout == "torchvision" else None
        kwargs.setdefault("drop_rate", 0.0)
        super().__init__(backbone=backbone, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        rates = ASPP_RATES[self.output_stride]
        decoder = DeepLabV3Decoder(channels[-1], rates, self.decoder_channels, self.layout)
        return decoder, self.decoder_channels


class DeepLabV3PlusDecoder(nn.Module):
    """ASPP on the deepest features, upsampled and fused with projected stride-4 features.

    Args:
        channels: Backbone channels per feature level.
        low_level_index: Index of the stride-4 feature map in the backbone's feature list.
        rates: ASPP rates.
        width: Channels of ASPP and the fusion convs (256 in the paper, 512 in mmseg).
        low_level_width: Channels of the projected stride-4 features (48 in the paper).
        layout: ``"paper"`` (ASPP with a 1×1 projection and dropout 0.1, two 3×3 fusion
            convs) or ``"mmseg"`` (separable ASPP with mmseg's 3×3 bottleneck, two
            depthwise-separable 3×3 fusion convs: ``DepthwiseSeparableASPPHead``).
    """

    def __init__(
        self,
        channels: list[int],
        low_level_index: int,
        rates: tuple[int, ...],
        width: int = 256,
        low_level_width: int = 48,
        layout: str = "paper",
    ) -> None:
        super().__init__()
        self.low_level_index = low_level_index
        separable = layout == "mmseg"
        self.aspp = ASPP(
            channels[-1], rates, width, dropout=0.1, layout=layout, separable=separable
        )
        self.low_level = conv_bn_relu(channels[low_level_index], low_level_width, 1)
        if separable:  # mmseg's sep_bottleneck.{0,1}
            self.fuse = nn.Sequential(
                separable_conv_bn_relu(width + low_level_width, width, 3),
                separable_conv_bn_relu(width, width, 3),
            )
        else:
            self.fuse = nn.Sequential(
                *conv_bn_relu(width + low_level_width, width, 3), *conv_bn_relu(width, width, 3)
            )

    def forward(self, features: list[Tensor]) -> Tensor:
        low = self.low_level(features[self.low_level_index])  # (B, 48, H/4, W/4)
        high = F.interpolate(
            self.aspp(features[-1]), size=low.shape[-2:], mode="bilinear", align_corners=False
        )  # (B, width, H/4, W/4)
        return self.fuse(torch.cat([high, low], dim=1))


class DeepLabV3Plus(SegmentationModel):
    """DeepLabV3+ on any timm backbone (output stride 16 by default).

    Args:
        backbone: timm backbone name.
        decoder_channels: Width of ASPP and the decoder (the paper's 256; smaller is cheaper
            for small inputs and few classes; mmsegmentation's 512).
        layout: ``"paper"`` or ``"mmseg"`` (see :class:`DeepLabV3PlusDecoder`).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel`.

    Raises:
        ConfigError: The backbone has no stride-4 feature map, or unknown ``layout``.
    """

    default_output_stride = 16

    def __init__(
        self,
        backbone: str = "resnet50",
        decoder_channels: int = 256,
        layout: str = "paper",
        **kwargs: Any,
    ) -> None:
        _check_layout(layout, V3PLUS_LAYOUTS)
        self.decoder_channels = decoder_channels
        self.layout = layout
        kwargs.setdefault("drop_rate", 0.0)
        super().__init__(backbone=backbone, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        if 4 not in reductions:
            raise ConfigError(f"DeepLabV3+ needs a stride-4 feature map; got strides {reductions}")
        decoder = DeepLabV3PlusDecoder(
            channels,
            reductions.index(4),
            ASPP_RATES[self.output_stride],
            self.decoder_channels,
            layout=self.layout,
        )
        return decoder, self.decoder_channels


default_cfgs = generate_default_cfgs(
    {
        "deeplabv3_resnet50.tv_coco_voc_520": tv_coco_voc(
            "resnet50", "deeplabv3_resnet50_coco-cd0a2569.pth", "arXiv:1706.05587", 66.4, 92.4
        ),
        "deeplabv3_resnet101.tv_coco_voc_520": tv_coco_voc(
            "resnet101", "deeplabv3_resnet101_coco-586e9e4e.pth", "arXiv:1706.05587", 67.4, 92.4
        ),
        **mmseg_cfgs("deeplabv3_resnet50c", "resnet50c", "arXiv:1706.05587"),
        **mmseg_cfgs("deeplabv3plus_resnet50c", "resnet50c", "arXiv:1802.02611"),
        "deeplabv3": seg_cfg("resnet50", paper_ids="arXiv:1706.05587"),
        "deeplabv3_tf_efficientnet_lite0": seg_cfg(
            "tf_efficientnet_lite0", paper_ids="arXiv:1706.05587"
        ),
        "deeplabv3plus": seg_cfg("resnet50", paper_ids="arXiv:1802.02611"),
        "deeplabv3plus_resnet50": seg_cfg("resnet50", paper_ids="arXiv:1802.02611"),
        "deeplabv3plus_tf_efficientnet_lite0": seg_cfg(
            "tf_efficientnet_lite0", paper_ids="arXiv:1802.02611"
        ),
    }
)


def _v3(variant: str, pretrained: bool, **kwargs: Any) -> DeepLabV3:
    return build_segmentation(DeepLabV3, variant, pretrained, **kwargs)  # type: ignore[return-value]


def _v3plus(variant: str, pretrained: bool, **kwargs: Any) -> DeepLabV3Plus:
    return build_segmentation(DeepLabV3Plus, variant, pretrained, **kwargs)  # type: ignore[return-value]


@register_model
def deeplabv3(pretrained: bool = False, **kwargs: Any) -> DeepLabV3:
    """DeepLabV3 on any timm backbone (``backbone=...``, default ResNet-50, output stride 8)."""
    return _v3("deeplabv3", pretrained, **kwargs)


@register_model
def deeplabv3_resnet50(pretrained: bool = False, **kwargs: Any) -> DeepLabV3:
    """DeepLabV3-ResNet-50, output stride 8, auxiliary head: torchvision's layout (42.0 M)."""
    kwargs.setdefault("aux_head", True)
    return _v3("deeplabv3_resnet50", pretrained, backbone="resnet50", **kwargs)


@register_model
def deeplabv3_resnet101(pretrained: bool = False, **kwargs: Any) -> DeepLabV3:
    """DeepLabV3-ResNet-101, output stride 8, auxiliary head: torchvision's layout (61.0 M)."""
    kwargs.setdefault("aux_head", True)
    return _v3("deeplabv3_resnet101", pretrained, backbone="resnet101", **kwargs)


@register_model
def deeplabv3_resnet50c(pretrained: bool = False, **kwargs: Any) -> DeepLabV3:
    """DeepLabV3 on ResNet-50-C, output stride 8, in mmsegmentation's layout (DeepLabV3-R50-D8:
    512-channel ASPP, pooling branch first, one 3×3 bottleneck, auxiliary FCN head)."""
    kwargs.setdefault("aux_head", True)
    kwargs.setdefault("drop_rate", 0.1)
    return _v3(
        "deeplabv3_resnet50c",
        pretrained,
        backbone="resnet50c",
        layout="mmseg",
        decoder_channels=512,
        **kwargs,
    )


@register_model
def deeplabv3_tf_efficientnet_lite0(pretrained: bool = False, **kwargs: Any) -> DeepLabV3:
    """DeepLabV3 on EfficientNet-Lite0, output stride 16 (backbone weights offline)."""
    kwargs.setdefault("output_stride", 16)
    return _v3(
        "deeplabv3_tf_efficientnet_lite0", pretrained, backbone="tf_efficientnet_lite0", **kwargs
    )


@register_model
def deeplabv3plus(pretrained: bool = False, **kwargs: Any) -> DeepLabV3Plus:
    """DeepLabV3+ on any timm backbone (``backbone=...``, default ResNet-50)."""
    return _v3plus("deeplabv3plus", pretrained, **kwargs)


@register_model
def deeplabv3plus_resnet50(pretrained: bool = False, **kwargs: Any) -> DeepLabV3Plus:
    """DeepLabV3+-ResNet-50, output stride 16."""
    return _v3plus("deeplabv3plus_resnet50", pretrained, backbone="resnet50", **kwargs)


@register_model
def deeplabv3plus_resnet50c(pretrained: bool = False, **kwargs: Any) -> DeepLabV3Plus:
    """DeepLabV3+ on ResNet-50-C, output stride 8, in mmsegmentation's layout
    (DeepLabV3+-R50-D8: separable 512-channel ASPP and fusion, auxiliary FCN head)."""
    kwargs.setdefault("aux_head", True)
    kwargs.setdefault("drop_rate", 0.1)
    kwargs.setdefault("output_stride", 8)
    return _v3plus(
        "deeplabv3plus_resnet50c",
        pretrained,
        backbone="resnet50c",
        layout="mmseg",
        decoder_channels=512,
        **kwargs,
    )


@register_model
def deeplabv3plus_tf_efficientnet_lite0(pretrained: bool = False, **kwargs: Any) -> DeepLabV3Plus:
    """DeepLabV3+ on EfficientNet-Lite0 (backbone weights offline)."""
    return _v3plus(
        "deeplabv3plus_tf_efficientnet_lite0",
        pretrained,
        backbone="tf_efficientnet_lite0",
        **kwargs,
    )
