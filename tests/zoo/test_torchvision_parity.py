"""fcn_resnet50 / deeplabv3_resnet50 load torchvision checkpoints; outputs match torchvision's."""

from __future__ import annotations

import time

import pytest
import torch
from torchvision.models import segmentation

import zoo
from tests.conftest import FAIL_FAST_S
from zoo.convert import torchvision_segmentation_to_zoo

CASES = [
    ("fcn_resnet50", "fcn", 35_322_218),
    ("deeplabv3_resnet50", "deeplabv3", 42_004_074),
    pytest.param(("fcn_resnet101", "fcn", 54_314_346), marks=pytest.mark.slow),
    pytest.param(("deeplabv3_resnet101", "deeplabv3", 60_996_202), marks=pytest.mark.slow),
]
METRICS = {"fcn_resnet50": 60.5, "deeplabv3_resnet50": 66.4, "fcn_resnet101": 63.7,
           "deeplabv3_resnet101": 67.4}  # fmt: skip


def _random_torchvision(name):
    torch.manual_seed(0)
    model = getattr(segmentation, name)(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    for module in model.modules():  # non-trivial BN statistics, so eval mode is really tested
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(scope="module", params=CASES, ids=lambda case: case[0])
def case(request, tmp_path_factory):
    name, layout, params = request.param
    reference = _random_torchvision(name)
    path = tmp_path_factory.mktemp(name) / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    return name, layout, params, reference, path


def test_same_parameter_count_as_torchvision(case):
    name, _, params, reference, _ = case
    ours = zoo.create_model(name)
    assert sum(p.numel() for p in ours.parameters()) == params
    assert sum(p.numel() for p in reference.parameters()) == params


def test_weight_loader_converts_and_outputs_match(case):
    name, _, _, reference, path = case
    ours = zoo.create_model(
        name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}
    ).eval()
    x = torch.randn(2, 3, 97, 131)  # odd size: resizing must match too
    with torch.no_grad():
        expected = reference(x)
        logits, aux = ours.forward_with_aux(x)
    assert (logits - expected["out"]).abs().max() <= 1e-4
    assert (aux - expected["aux"]).abs().max() <= 1e-4


def test_converter_rejects_unknown_keys(case):
    _, layout, *_ = case
    with pytest.raises(KeyError, match="unexpected"):
        torchvision_segmentation_to_zoo({"backbone_x.weight": torch.zeros(1)}, layout)


def test_registered_tags_carry_published_metrics(case):
    name, *_ = case
    info = zoo.model_info(name)
    assert info.name == f"{name}.tv_coco_voc_520"
    assert info.num_classes == 21 and info.labels[15] == "person"
    assert info.metrics["mIoU"] == METRICS[name]
    assert info.weight_source.startswith("url:https://download.pytorch.org/models/")
    assert f"{name}.tv_coco_voc_520" in zoo.list_models(pretrained=True, task="segmentation")


def test_offline_download_fails_fast_and_clearly(case):
    name, *_ = case
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError, match=name):
        zoo.create_model(name, pretrained=True)
    assert time.monotonic() - start < FAIL_FAST_S
