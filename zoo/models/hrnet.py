"""HRNetV2 segmentation: Wang et al., "Deep High-Resolution Representation Learning for Visual
Recognition", TPAMI 2020 (arXiv:1908.07919), on timm's ``hrnet_w18/w32/w48``.

The four raw branch outputs (strides 4/8/16/32; timm ``feature_location=''``, not the
classification "incre" features) are upsampled to stride 4, concatenated, mixed by a 1×1
conv-BN-ReLU and classified by a 1×1 conv.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from timm.models import generate_default_cfgs
from torch import Tensor, nn

from ._seg import (
    SegmentationModel,
    build_segmentation,
    conv_bn_relu,
    register_segmentation,
    seg_cfg,
)


class HRNetV2Decoder(nn.Module):
    """Upsample every branch to the highest resolution, concatenate, 1×1 conv-BN-ReLU."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.fuse = conv_bn_relu(sum(channels), sum(channels), 1)

    def forward(self, features: list[Tensor]) -> Tensor:
        size = features[0].shape[-2:]
        upsampled = [features[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features[1:]
        ]
        return self.fuse(torch.cat(upsampled, dim=1))  # (B, sum(C_i), H/4, W/4)


class HRNetV2(SegmentationModel):
    """HRNetV2 on a timm HRNet backbone: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    Args:
        backbone: ``hrnet_w18``, ``hrnet_w32``, ``hrnet_w48`` (or another timm HRNet).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel` (HRNet keeps its own
            resolutions; ``output_stride`` stays 32).
    """

    feature_kwargs: ClassVar[dict[str, Any]] = {"feature_location": "", "out_indices": (1, 2, 3, 4)}
    default_output_stride = 32

    def __init__(self, backbone: str = "hrnet_w48", **kwargs: Any) -> None:
        kwargs.setdefault("drop_rate", 0.0)
        super().__init__(backbone=backbone, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        return HRNetV2Decoder(channels), sum(channels)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Branch outputs at strides 4/8/16/32.

        timm's HRNet fuses branches with fixed ×2 nearest upsampling, which needs H and W to be
        multiples of 32; other sizes are resized up to the next multiple of 32 first (the
        logits are resized back to the input size by :meth:`forward`).
        """
        height, width = x.shape[-2:]
        padded = (-(-height // 32) * 32, -(-width // 32) * 32)
        if (height, width) != padded:
            x = F.interpolate(x, size=padded, mode="bilinear", align_corners=False)
        return list(self.encoder(x))


_PAPER = "arXiv:1908.07919"
default_cfgs = generate_default_cfgs(
    {f"hrnetv2_w{w}": seg_cfg(f"hrnet_w{w}", paper_ids=_PAPER) for w in (18, 32, 48)}
)


def _hrnet(width: int, pretrained: bool, **kwargs: Any) -> HRNetV2:
    return build_segmentation(  # type: ignore[return-value]
        HRNetV2, f"hrnetv2_w{width}", pretrained, backbone=f"hrnet_w{width}", **kwargs
    )


@register_segmentation
def hrnetv2_w18(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W18 (branch widths 18/36/72/144)."""
    return _hrnet(18, pretrained, **kwargs)


@register_segmentation
def hrnetv2_w32(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W32 (branch widths 32/64/128/256)."""
    return _hrnet(32, pretrained, **kwargs)


@register_segmentation
def hrnetv2_w48(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W48 (branch widths 48/96/192/384)."""
    return _hrnet(48, pretrained, **kwargs)
