"""HRNetV2 segmentation: Wang et al., "Deep High-Resolution Representation Learning for Visual
Recognition", TPAMI 2020 (arXiv:1908.07919), on timm's ``hrnet_w18/w32/w48``.

The four raw branch outputs (strides 4/8/16/32; timm ``feature_location=''``, not the
classification "incre" features) are upsampled to stride 4, concatenated, mixed by a 1×1
conv-BN-ReLU and classified by a 1×1 conv. Inside the backbone, branches are fused with bilinear
upsampling (×2ⁿ, then resized to the target branch's exact size: mmsegmentation's fusion; timm's
classification HRNet upsamples by nearest neighbour and needs multiples of 32), so any H, W works
and mmsegmentation's FCN-HRNetV2 weights give its outputs exactly.
"""

# No ``from __future__ import annotations``: torch.fx copies the root forward's annotations
# into the code TorchScript compiles, and TorchScript reads class-level ones (timm contract).
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from timm.models import generate_default_cfgs, register_model
from timm.models.hrnet import HighResolutionModule, HighResolutionNetFeatures
from torch import Tensor, nn

from ._mmseg import mmseg_cfgs
from ._seg import (
    SegmentationModel,
    build_segmentation,
    conv_bn_relu,
    resize,
    seg_cfg,
)


class BilinearUpsample(nn.Module):
    """Bilinear upsampling by an integer factor (``align_corners=False``), in place of timm's
    nearest ``nn.Upsample`` in HRNet's fuse layers (as mmsegmentation's HRNet)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        size = [x.shape[-2] * self.factor, x.shape[-1] * self.factor]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ExactSizeFusion(HighResolutionModule):
    """timm's HRNet module whose fusion resizes each upsampled branch to the exact size of the
    branch it is added to, so any H, W works (timm's adds ×2ⁿ nearest-upsampled maps, which
    only fit when H and W are multiples of 32)."""

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        outputs: list[Tensor] = []
        for i, branch in enumerate(self.branches):
            outputs.append(branch(x[i]))
        fused: list[Tensor] = []
        for i, fuse_outer in enumerate(self.fuse_layers):
            height, width = outputs[i].shape[-2], outputs[i].shape[-1]
            total: Tensor | None = None
            for j, fuse in enumerate(fuse_outer):
                y = fuse(outputs[j])
                if j > i:  # upsampled ×2^(j-i): cut or stretched to the exact size
                    y = resize(y, height, width)
                total = y if total is None else total + y
            assert total is not None  # every fuse_outer has one layer per branch
            fused.append(self.fuse_act(total))
        return fused


class HRNetFeatures(HighResolutionNetFeatures):
    """timm's HRNet feature extractor with a forward TorchScript compiles (timm's keeps its
    output indices in a set): ``(B, 3, H, W) → [(B, C_i, H/r_i, W/r_i), ...]``."""

    out_levels: list[int]  # the indices of timm's ``_out_idx``, as a list

    def forward(self, x: Tensor) -> list[Tensor]:
        levels = self.out_levels
        out: list[Tensor] = []
        x = self.act1(self.bn1(self.conv1(x)))
        if 0 in levels:
            out.append(x)
        x = self.act2(self.bn2(self.conv2(x)))
        features = self.stages(x)  # the raw branch outputs (feature_location='': no incre)
        for i, feature in enumerate(features):
            if i + 1 in levels:
                out.append(feature)
        return out

    def stages(self, x: Tensor) -> list[Tensor]:
        """The four stages and their transitions (timm's, written for TorchScript)."""
        x = self.layer1(x)
        xl: list[Tensor] = []
        for t in self.transition1:
            xl.append(t(x))
        for module in self.stage2:  # timm's SequentialList, whose forward has no annotation
            xl = module(xl)
        yl, xl = xl, []
        for i, t in enumerate(self.transition2):
            xl.append(yl[i] if isinstance(t, nn.Identity) else t(yl[-1]))
        for module in self.stage3:
            xl = module(xl)
        yl, xl = xl, []
        for i, t in enumerate(self.transition3):
            xl.append(yl[i] if isinstance(t, nn.Identity) else t(yl[-1]))
        for module in self.stage4:
            xl = module(xl)
        return xl


def use_bilinear_fusion(encoder: nn.Module) -> nn.Module:
    """Switch every fusion of a timm HRNet to bilinear, exact-size upsampling (in place; the
    parameters and their names do not change)."""
    for module in encoder.modules():
        if not isinstance(module, HighResolutionModule):
            continue
        for fuse_outer in module.fuse_layers or ():
            for fuse in fuse_outer:
                upsample = fuse[-1] if isinstance(fuse, nn.Sequential) else None
                if isinstance(upsample, nn.Upsample):
                    factor = upsample.scale_factor
                    assert isinstance(factor, (int, float)), factor  # timm: 2 ** (j - i)
                    fuse[-1] = BilinearUpsample(int(factor))
        module.__class__ = ExactSizeFusion
    if type(encoder) is HighResolutionNetFeatures:
        encoder.__class__ = HRNetFeatures
        cast(HRNetFeatures, encoder).out_levels = sorted(encoder._out_idx)
    return encoder


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
        use_bilinear_fusion(self.encoder)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        return HRNetV2Decoder(channels), sum(channels)


_PAPER = "arXiv:1908.07919"
default_cfgs = generate_default_cfgs(
    {
        **mmseg_cfgs("hrnetv2_w18", "hrnet_w18", _PAPER),
        "hrnetv2_w32": seg_cfg("hrnet_w32", paper_ids=_PAPER),
        **mmseg_cfgs("hrnetv2_w48", "hrnet_w48", _PAPER),
    }
)


def _hrnet(width: int, pretrained: bool, **kwargs: Any) -> HRNetV2:
    return build_segmentation(  # type: ignore[return-value]
        HRNetV2, f"hrnetv2_w{width}", pretrained, backbone=f"hrnet_w{width}", **kwargs
    )


@register_model
def hrnetv2_w18(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W18 (branch widths 18/36/72/144)."""
    return _hrnet(18, pretrained, **kwargs)


@register_model
def hrnetv2_w32(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W32 (branch widths 32/64/128/256)."""
    return _hrnet(32, pretrained, **kwargs)


@register_model
def hrnetv2_w48(pretrained: bool = False, **kwargs: Any) -> HRNetV2:
    """HRNetV2-W48 (branch widths 48/96/192/384)."""
    return _hrnet(48, pretrained, **kwargs)
