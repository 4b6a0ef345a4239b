"""Every architecture the zoo registers: builds, runs forward and backward, complete cfg.

Parametrized over the registry, so a new variant is covered without editing this file.
"""

from __future__ import annotations

import pytest
import timm
import torch
from timm.models import get_pretrained_cfg

import zoo
from zoo.registry import zoo_architectures


@pytest.mark.parametrize("name", zoo_architectures("segmentation"))
def test_segmentation_forward_backward(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=5)
    x = torch.randn(2, 3, 96, 128)
    logits = model(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5, 96, 128)
    logits.logsumexp(1).mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert all(n.startswith("aux_head.") for n in no_grad), no_grad[:3]  # aux is training-only
    assert model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", zoo_architectures("classification"))
def test_cifar_forward_backward(name):
    model = zoo.create_model(name)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", zoo_architectures())
def test_pretrained_cfg_is_complete(name):
    cfg = get_pretrained_cfg(name)
    assert cfg is not None
    for key in (
        "input_size",
        "mean",
        "std",
        "interpolation",
        "crop_pct",
        "num_classes",
        "license",
        "paper_ids",
        "first_conv",
        "classifier",
    ):
        assert getattr(cfg, key), f"{name}: pretrained cfg lacks {key}"
    assert len(cfg.label_names) == cfg.num_classes
    assert len(cfg.mean) == len(cfg.std) == cfg.input_size[0] == 3
    info = zoo.model_info(name)
    assert info.task == zoo.model_task(name)
    assert info.labels == list(cfg.label_names)
    if info.task == "segmentation":
        palette = zoo.get_palette(cfg.to_dict())
        assert len(palette) == cfg.num_classes and len(set(palette)) == cfg.num_classes


@pytest.mark.parametrize("name", zoo_architectures())
def test_meta_build_matches_cfg(name):
    """Every variant (the heavy ones too) builds, and its cfg points at real modules."""
    with torch.device("meta"):
        model = timm.create_model(name)
    assert model.pretrained_cfg["architecture"] == name
    modules = dict(model.named_modules())
    classifiers = get_pretrained_cfg(name).classifier
    for classifier in (classifiers,) if isinstance(classifiers, str) else classifiers:
        if classifier.startswith("aux_head") and getattr(model, "aux_head", 1) is None:
            continue
        assert classifier in modules, f"{name}: no module {classifier}"
    assert get_pretrained_cfg(name).first_conv in modules


def test_list_models_by_task():
    segmentation = zoo.list_models(task="segmentation")
    required = {
        "fcn_resnet50",
        "deeplabv3_resnet50",
        "deeplabv3plus_resnet50",
        "pspnet_resnet50",
        "hrnetv2_w18",
        "hrnetv2_w48",
        "slstm_resnet50",
        "slstm_efficientnet_b4",
        "slstm_tf_efficientnetv2_s",
        "fcn_tf_efficientnet_lite0",
        "deeplabv3_tf_efficientnet_lite0",
        "deeplabv3plus_tf_efficientnet_lite0",
        "pspnet_tf_efficientnet_lite0",
        "slstm_tf_efficientnet_lite0",
    }
    assert required <= set(segmentation)
    assert "resnet56_cifar" in zoo.list_models("*_cifar", task="classification")
    assert not set(segmentation) & set(zoo.list_models(task="classification"))


def test_timm_creates_zoo_models_by_name():
    assert timm.is_model("pspnet_resnet50") and timm.is_model("resnet56_cifar")
    model = timm.create_model("fcn_tf_efficientnet_lite0", num_classes=2)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_readme_model_table_is_generated_from_the_registry():
    from pathlib import Path

    from zoo.catalog import update_readme

    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert update_readme(readme, check=True), "run: python -m zoo.catalog"
