"""HRNetV2 (Wang et al. 2020) on timm's HRNet."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.zoo.models.base import SegmentationFamily


class TestHRNetV2(SegmentationFamily):
    module = "hrnet"


@pytest.mark.parametrize(
    ("name", "widths"), [("hrnetv2_w18", (18, 36, 72, 144)), ("hrnetv2_w48", (48, 96, 192, 384))]
)
def test_hrnetv2_uses_raw_branch_outputs(name, widths):
    model = zoo.create_model(name)
    info = model.encoder.feature_info
    assert tuple(info.channels()) == widths  # not the "incre" 128/256/512/1024 features
    assert tuple(info.reduction()) == (4, 8, 16, 32)
    fuse = model.decoder.fuse[0]
    assert fuse.kernel_size == (1, 1) and fuse.in_channels == fuse.out_channels == sum(widths)
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        assert model.decoder(model.forward_features(x)).shape[-2:] == (16, 16)  # stride 4


@pytest.mark.parametrize("size", [(97, 131), (33, 47), (64, 200)])
def test_any_input_size(size):
    """timm's HRNet needs multiples of 32; other sizes are resized internally."""
    model = zoo.create_model("hrnetv2_w18", num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 3, *size)
