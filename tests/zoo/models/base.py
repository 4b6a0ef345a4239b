"""Shared tests of every zoo architecture family (segmentation_models_pytorch-style base).

A family's test file subclasses :class:`SegmentationFamily` or :class:`ClassificationFamily`
and sets ``module`` (its file in ``zoo/models``); ``variant`` iterates over every architecture
that file registers. The record checks follow torchvision's ``Weights.meta`` test: each tag's
metadata is checked against the model it builds.
"""

from __future__ import annotations

import timm
import torch
from timm.models import get_pretrained_cfg, model_entrypoint

import zoo
from zoo.meta import ZooCfg
from zoo.registry import zoo_architectures

TIMM_FIELDS = ("input_size", "mean", "std", "interpolation", "crop_pct", "num_classes",
               "license", "paper_ids", "first_conv", "classifier")  # fmt: skip


def variants_of(module: str) -> list[str]:
    """Architectures registered by ``zoo/models/<module>.py``."""
    names = [
        a for a in zoo_architectures() if model_entrypoint(a).__module__ == f"zoo.models.{module}"
    ]
    assert names, f"zoo.models.{module} registers no architecture"
    return names


def tags_of(variant: str) -> list[str]:
    """The variant's pretrained tags (or the tagless variant)."""
    return timm.list_pretrained(f"{variant}.*") or [variant]


class ArchitectureFamily:
    module: str = ""

    def test_record_is_complete(self, variant):
        for name in tags_of(variant):
            cfg = get_pretrained_cfg(name)
            assert isinstance(cfg, ZooCfg), f"{name}: its cfg carries no zoo record"
            for key in TIMM_FIELDS:
                assert getattr(cfg, key), f"{name}: pretrained cfg lacks {key}"
            assert len(cfg.label_names) == cfg.num_classes
            assert len(cfg.mean) == len(cfg.std) == cfg.input_size[0] == 3
            info = zoo.model_info(name)
            assert info.labels == list(cfg.label_names)
            assert info.task == cfg.zoo.task == self.task
            if cfg.has_weights:  # published weights: their data set, terms and figures
                assert cfg.zoo.dataset and cfg.zoo.terms and cfg.license, name
                assert cfg.zoo.metrics, f"{name}: weights without published metrics"

    def test_meta_build_matches_record(self, variant):
        """Every variant (the heavy ones too) builds, and its cfg points at real modules."""
        with torch.device("meta"):
            model = timm.create_model(variant)
        assert model.pretrained_cfg["architecture"] == variant
        assert model.pretrained_cfg["zoo"]["task"] == self.task
        modules = dict(model.named_modules())
        classifiers = model.pretrained_cfg["classifier"]
        for classifier in (classifiers,) if isinstance(classifiers, str) else classifiers:
            if classifier.startswith("aux_head") and getattr(model, "aux_head", 1) is None:
                continue
            assert classifier in modules, f"{variant}: no module {classifier}"
        assert model.pretrained_cfg["first_conv"] in modules
        assert model.num_classes == model.pretrained_cfg["num_classes"]
        params = sum(p.numel() for p in model.parameters())
        assert zoo.model_info(variant).params == params


class SegmentationFamily(ArchitectureFamily):
    task = "segmentation"

    def test_forward_backward(self, variant):
        torch.manual_seed(0)
        model = zoo.create_model(variant, num_classes=5)
        x = torch.randn(2, 3, 96, 128)
        logits = model(x)
        assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5, 96, 128)
        logits.logsumexp(1).mean().backward()
        no_grad = [n for n, p in model.named_parameters() if p.grad is None]
        assert all(n.startswith("aux_head.") for n in no_grad), no_grad[:3]  # aux: training only
        assert model.classifier.weight.grad.abs().sum() > 0

    def test_palette_has_a_distinct_colour_per_class(self, variant):
        """One colour per class, all distinct, except the one grey ADE20K's published palette
        repeats (class 6 "road" and 48 "skyscraper", kept as its authors give it)."""
        for name in tags_of(variant):
            cfg = get_pretrained_cfg(name)
            palette = zoo.get_palette(cfg)
            assert palette == cfg.zoo.palette
            assert len(palette) == cfg.num_classes
            repeats = len(palette) - len(set(palette))
            if cfg.zoo.dataset == "ade20k":
                assert repeats == 1 and palette[6] == palette[48] == (140, 140, 140)
            else:
                assert repeats == 0

    def test_normalisation_follows_the_backbone(self, variant):
        """ImageNet backbones use their own mean/std (a ``tf_`` backbone's is 0.5), unless
        full segmentation weights say otherwise (they keep what they were trained with)."""
        with torch.device("meta"):
            model = timm.create_model(variant)
        backbone = get_pretrained_cfg(model.backbone_name)
        for name in tags_of(variant):
            cfg = get_pretrained_cfg(name)
            if not cfg.has_weights:
                assert (tuple(cfg.mean), tuple(cfg.std)) == (backbone.mean, backbone.std), name
        assert tuple(model.pretrained_cfg["mean"]) == tuple(
            get_pretrained_cfg(tags_of(variant)[0]).mean
        )


class ClassificationFamily(ArchitectureFamily):
    task = "classification"
