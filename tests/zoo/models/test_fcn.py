"""FCN (Long et al. 2015) in torchvision's form."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.zoo.models.base import SegmentationFamily


class TestFCN(SegmentationFamily):
    module = "fcn"


def test_fcn_head_and_aux_head():
    model = zoo.create_model("fcn_resnet50")
    assert model.output_stride == 8
    assert model.decoder[0].in_channels == 2048 and model.decoder[0].out_channels == 512
    assert model.aux_head.conv[0].in_channels == 1024
    assert model.dropout.p == pytest.approx(0.1)


@pytest.mark.parametrize("backbone", ["tf_efficientnet_lite0", "resnet18"])
def test_backbone_argument_brings_its_normalisation(backbone):
    model = zoo.create_model("fcn", backbone=backbone, output_stride=16, num_classes=2)
    expected = timm_mean_std(backbone)
    assert (model.pretrained_cfg["mean"], model.pretrained_cfg["std"]) == expected
    assert len(zoo.get_palette(model)) == 2


def timm_mean_std(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return tuple(cfg.mean), tuple(cfg.std)


def test_models_without_aux_head():
    model = zoo.create_model("fcn_tf_efficientnet_lite0", num_classes=3, aux_head=False)
    logits, aux = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    assert aux is None and logits.shape == (2, 3, 64, 64)
