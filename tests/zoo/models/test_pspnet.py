"""PSPNet (Zhao et al. 2017)."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.zoo.models.base import SegmentationFamily


class TestPSPNet(SegmentationFamily):
    module = "pspnet"


def test_pspnet_is_paper_faithful():
    model = zoo.create_model("pspnet_resnet50")
    assert model.output_stride == 8
    assert [s[0].output_size for s in model.decoder.ppm.stages] == [1, 2, 3, 6]
    assert all(s[1].out_channels == 512 for s in model.decoder.ppm.stages)  # 2048 / 4
    assert model.decoder.bottleneck[0].kernel_size == (3, 3)
    assert model.dropout.p == pytest.approx(0.1)
    assert model.aux_weight == pytest.approx(0.4)
    assert model.aux_head.conv[0].in_channels == 1024  # stage 3 of ResNet-50
    x = torch.randn(2, 3, 64, 80)
    features = model.forward_features(x)
    assert features[-1].shape[-2:] == (8, 10)  # dilated to stride 8
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == aux.shape == (2, 21, 64, 80)
    assert isinstance(model(x), torch.Tensor)  # forward never returns the aux output


def test_other_backbone_and_stride():
    psp = zoo.create_model("pspnet", backbone="resnet18", num_classes=3, output_stride=16)
    assert psp(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)
