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


@pytest.mark.parametrize("name", ["hrnetv2_w18", "hrnetv2_w32", "hrnetv2_w48"])
@pytest.mark.parametrize("size", [(97, 131), (33, 47), (64, 200)])
def test_any_input_size(name, size):
    """Branches are fused at their exact sizes, so no size needs to be a multiple of 32."""
    model = zoo.create_model(name, num_classes=3).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, *size))
        assert model(torch.randn(1, 3, *size)).shape == (1, 3, *size)
    height, width = -(-size[0] // 4), -(-size[1] // 4)  # two stride-2 convs, padding 1
    for feature in features:  # no resizing of the input: each branch halves the previous
        assert feature.shape[-2:] == (height, width)
        height, width = -(-height // 2), -(-width // 2)


def test_fusion_is_bilinear():
    """timm's nearest-neighbour fuse upsampling is replaced by bilinear (as in mmsegmentation):
    a branch that varies linearly stays smooth after fusion."""
    model = zoo.create_model("hrnetv2_w18")
    assert not any(isinstance(m, torch.nn.Upsample) for m in model.modules())
    upsample = next(m for m in model.modules() if type(m).__name__ == "BilinearUpsample")
    ramp = torch.arange(4.0).view(1, 1, 1, 4)
    up = upsample(ramp)
    assert up.shape[-1] == 4 * upsample.factor and len(up.unique()) > 4  # not repeated
