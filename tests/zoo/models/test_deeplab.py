"""DeepLabV3 (Chen et al. 2017) and DeepLabV3+ (Chen et al. 2018)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from tests.zoo.models.base import SegmentationFamily
from tests.zoo.models.helpers import dilations


class TestDeepLab(SegmentationFamily):
    module = "deeplab"


@pytest.mark.parametrize("size", [(97, 131), (33, 47), (256, 128)])
def test_logits_at_input_size_for_any_size(size):
    model = zoo.create_model("deeplabv3plus_tf_efficientnet_lite0", num_classes=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 4, *size)


@pytest.mark.parametrize(("output_stride", "rates"), [(8, [12, 24, 36]), (16, [6, 12, 18])])
def test_deeplabv3_aspp_rates_follow_output_stride(output_stride, rates):
    model = zoo.create_model("deeplabv3", output_stride=output_stride)
    assert dilations(model.decoder.aspp.convs) == rates
    assert isinstance(model.decoder.aspp.pool[0], nn.AdaptiveAvgPool2d)  # image pooling
    x = torch.randn(1, 3, 64, 64)
    assert model.forward_features(x)[-1].shape[-1] == 64 // output_stride


def test_deeplabv3plus_fuses_stride4_features():
    model = zoo.create_model("deeplabv3plus_resnet50")
    assert model.output_stride == 16
    assert dilations(model.decoder.aspp.convs) == [6, 12, 18]
    decoder = model.decoder
    assert model.encoder.feature_info.reduction()[decoder.low_level_index] == 4
    assert decoder.low_level[0].in_channels == 256 and decoder.low_level[0].out_channels == 48
    assert decoder.fuse[0].in_channels == 256 + 48


def test_models_without_aux_head():
    model = zoo.create_model("deeplabv3plus_tf_efficientnet_lite0", num_classes=3)
    logits, aux = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    assert aux is None and logits.shape == (2, 3, 64, 64)


def test_tf_backbone_uses_its_own_normalisation():
    """The issue's example: a tf_ backbone was trained with mean = std = 0.5."""
    model = zoo.create_model("deeplabv3_tf_efficientnet_lite0")
    assert model.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)
    assert model.pretrained_cfg["std"] == (0.5, 0.5, 0.5)
    generic = zoo.create_model("deeplabv3", backbone="tf_efficientnet_lite0", output_stride=16)
    assert generic.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)
    resnet = zoo.create_model("deeplabv3")
    assert resnet.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)


def test_any_timm_backbone_composes():
    model = zoo.create_model("deeplabv3", backbone="convnext_tiny", num_classes=5)
    assert model.backbone_name == "convnext_tiny"
    assert model(torch.randn(2, 3, 64, 96)).shape == (2, 5, 64, 96)


def test_new_classes_keep_pretrained_decoder(tmp_path):
    source = zoo.create_model("deeplabv3_tf_efficientnet_lite0", num_classes=21)
    zoo.save_pretrained(source, tmp_path)
    model = zoo.create_model(f"local-dir:{tmp_path}", num_classes=4)
    assert model.classifier.out_channels == 4
    assert torch.equal(model.decoder.head[0].weight, source.decoder.head[0].weight)
