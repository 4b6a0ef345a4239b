"""FCN: a dilated backbone with a single 3×3 conv head (torchvision's ``fcn_resnet50`` twin).

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015
(arXiv:1411.4038), in torchvision's form: ResNet dilated to output stride 8, an FCN head
(3×3 conv to C/4, BN, ReLU, dropout 0.1, 1×1 classifier) and an auxiliary FCN head on stage 3.
"""

from __future__ import annotations

from typing import Any

from timm.models import generate_default_cfgs, register_model
from torch import Tensor, nn

from ._seg import (
    SegmentationModel,
    TestResize,
    ZooCfg,
    build_segmentation,
    conv_bn_relu,
    dataset_fields,
    seg_cfg,
)


class LastFeature(nn.Sequential):
    """Applies its layers to the deepest feature map of a backbone's feature list."""

    def forward(self, features: list[Tensor]) -> Tensor:
        x = features[-1]
        for layer in self:
            x = layer(x)
        return x


class FCN(SegmentationModel):
    """FCN on any timm backbone: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    Args:
        backbone: timm backbone name (default ``resnet50``, dilated to output stride 8).
        aux_head: Auxiliary FCN head on stage 3 (True in torchvision's model).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel`.
    """

    torchvision_layout = "fcn"

    def __init__(self, backbone: str = "resnet50", aux_head: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("drop_rate", 0.1)
        super().__init__(backbone=backbone, aux_head=aux_head, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        inner = channels[-1] // 4
        return LastFeature(*conv_bn_relu(channels[-1], inner, 3)), inner


def _fcn(variant: str, pretrained: bool, **kwargs: Any) -> FCN:
    return build_segmentation(FCN, variant, pretrained, **kwargs)  # type: ignore[return-value]


TV_COCO_EVAL = "COCO val2017 (20 VOC categories)"


def tv_coco_voc(backbone: str, file: str, paper: str, miou: float, pixel_acc: float) -> ZooCfg:
    """The record of a torchvision COCO-with-VOC-labels checkpoint (``download.pytorch.org/
    models/<file>``): 21 VOC classes, published COCO-val mIoU and pixel accuracy, evaluated
    after resizing the short side to 520."""
    return seg_cfg(
        backbone,
        url=f"https://download.pytorch.org/models/{file}",
        input_size=(3, 520, 520),
        license="bsd-3-clause",
        origin_url="https://github.com/pytorch/vision",
        description="torchvision weights trained on the COCO train2017 subset with the 20 "
        "Pascal VOC categories (21 classes with background).",
        paper_ids=paper,
        **dataset_fields(
            "coco_voc",
            metrics={
                "mIoU": miou,
                "pixel_acc": pixel_acc,
                "eval": "COCO val2017 (20 VOC categories)",
            },
            test_resize=TestResize("keep_ratio", (0, 520)),
        ),
    )


default_cfgs = generate_default_cfgs(
    {
        "fcn_resnet50.tv_coco_voc_520": tv_coco_voc(
            "resnet50", "fcn_resnet50_coco-1167a1af.pth", "arXiv:1411.4038", 60.5, 91.4
        ),
        "fcn_resnet101.tv_coco_voc_520": tv_coco_voc(
            "resnet101", "fcn_resnet101_coco-7ecb50ca.pth", "arXiv:1411.4038", 63.7, 91.9
        ),
        "fcn": seg_cfg("resnet50", paper_ids="arXiv:1411.4038"),
        "fcn_tf_efficientnet_lite0": seg_cfg("tf_efficientnet_lite0", paper_ids="arXiv:1411.4038"),
    }
)


@register_model
def fcn(pretrained: bool = False, **kwargs: Any) -> FCN:
    """FCN on any timm backbone (``backbone=...``, default ResNet-50)."""
    return _fcn("fcn", pretrained, **kwargs)


@register_model
def fcn_resnet50(pretrained: bool = False, **kwargs: Any) -> FCN:
    """FCN-ResNet-50, output stride 8, with an auxiliary head (torchvision's layout)."""
    return _fcn("fcn_resnet50", pretrained, backbone="resnet50", **kwargs)


@register_model
def fcn_resnet101(pretrained: bool = False, **kwargs: Any) -> FCN:
    """FCN-ResNet-101, output stride 8, with an auxiliary head (torchvision's layout)."""
    return _fcn("fcn_resnet101", pretrained, backbone="resnet101", **kwargs)


@register_model
def fcn_tf_efficientnet_lite0(pretrained: bool = False, **kwargs: Any) -> FCN:
    """FCN on EfficientNet-Lite0 (ImageNet backbone weights available offline)."""
    kwargs.setdefault("output_stride", 16)
    return _fcn("fcn_tf_efficientnet_lite0", pretrained, backbone="tf_efficientnet_lite0", **kwargs)
