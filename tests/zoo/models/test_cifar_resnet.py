"""CIFAR ResNets against He et al. 2016, §4.2 / Table 6."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from tests.zoo.models.base import ClassificationFamily


class TestCifarResNet(ClassificationFamily):
    module = "cifar_resnet"

    def test_forward_backward(self, variant):
        model = zoo.create_model(variant)
        logits = model(torch.randn(2, 3, 32, 32))
        assert logits.shape == (2, 10)
        logits.sum().backward()
        assert all(p.grad is not None for p in model.parameters())


# depth: (exact parameter count with 10 classes, the paper's figure in millions)
PAPER = {
    20: (269_722, 0.27),
    32: (464_154, 0.46),
    44: (658_586, 0.66),
    56: (853_018, 0.85),
    110: (1_727_962, 1.7),
}


@pytest.mark.parametrize("depth", sorted(PAPER))
def test_parameter_counts_match_the_paper(depth):
    model = zoo.create_model(f"resnet{depth}_cifar")
    params = sum(p.numel() for p in model.parameters())
    exact, paper_millions = PAPER[depth]
    assert params == exact
    assert round(params / 1e6, 2 if depth < 110 else 1) == paper_millions


@pytest.mark.parametrize("depth", sorted(PAPER))
def test_depth_is_6n_plus_2_weighted_layers(depth):
    model = zoo.create_model(f"resnet{depth}_cifar")
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == depth
    n = (depth - 2) // 6
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [n, n, n]


def test_stages_and_resolution():
    model = zoo.create_model("resnet20_cifar").eval()
    assert model.conv1.kernel_size == (3, 3) and model.conv1.out_channels == 16
    x = torch.randn(1, 3, 32, 32)
    assert model.layer1(torch.relu(model.bn1(model.conv1(x)))).shape == (1, 16, 32, 32)
    assert model.forward_features(x).shape == (1, 64, 8, 8)


def test_option_a_shortcut_is_parameter_free_zero_padding():
    block = zoo.models.cifar_resnet.BasicBlock(16, 32, stride=2)
    x = torch.randn(1, 16, 8, 8)
    shortcut = block.shortcut(x)
    assert shortcut.shape == (1, 32, 4, 4)
    assert torch.equal(shortcut[:, 8:24], x[:, :, ::2, ::2])
    assert shortcut[:, :8].abs().sum() == 0 and shortcut[:, 24:].abs().sum() == 0


def test_bad_depth():
    with pytest.raises(ValueError, match="6n"):
        zoo.models.cifar_resnet.CifarResNet(depth=21)


def test_labels_are_cifar10():
    assert zoo.get_labels(zoo.create_model("resnet20_cifar"))[3] == "cat"
