"""Every mmsegmentation tag against mmsegmentation itself: same outputs, same metadata.

Each reference model is built from the config shipped inside the mmsegmentation wheel, with
random weights and BatchNorm statistics, saved in mmsegmentation's checkpoint format
(``{"meta", "state_dict"}``) and loaded through the tag's own pretrained path
(``pretrained_cfg_overlay={"file": ...}``: the checkpoint filter converts it and timm loads it
strictly). The Cityscapes tags run by default; the others with ``--runslow`` (CI).
"""

from __future__ import annotations

import json

import pytest
import timm
import torch

import zoo
from zoo.models._mmseg import CHECKPOINTS, EVAL_SETTINGS

from . import mmseg_reference as reference

pytestmark = pytest.mark.skipif(
    not reference.available(), reason="mmsegmentation is not installed (pip install -e '.[dev]')"
)

CASES = [
    pytest.param(
        (f"{arch}.mmseg_{EVAL_SETTINGS[dataset].tag}", ckpt.config),
        id=f"{arch}.{dataset}",
        marks=() if dataset == "cityscapes" else pytest.mark.slow,
    )
    for (arch, dataset), ckpt in CHECKPOINTS.items()
]
SIZE = (97, 131)  # no multiple of 32 (nor of 8)


@pytest.fixture(scope="module", params=CASES)
def case(request, tmp_path_factory):
    """A tag, its reference model and config, and the reference's checkpoint file (built once
    per tag; pytest runs both tests of a tag before building the next)."""
    tag, config_name = request.param
    cfg = reference.config(config_name)
    model = reference.fill(reference.build(cfg), seed=1)
    path = tmp_path_factory.mktemp("mmseg") / f"{config_name}.pth"
    meta = {"CLASSES": ("x",), "PALETTE": [[0, 0, 0]], "mmcv_version": "1.x", "iter": 1}
    torch.save({"meta": meta, "state_dict": model.state_dict()}, path)
    yield tag, config_name, cfg, model, path
    path.unlink()


def test_outputs_match_mmsegmentation(case):
    tag, _, _, reference_model, path = case
    ours = zoo.create_model(tag, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    x = torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(0))
    expected, expected_aux = reference.forward(reference_model, x)
    with torch.no_grad():
        logits, aux = ours.eval().forward_with_aux(x)
    assert logits.shape == expected.shape == (2, reference_model.decode_head.num_classes, *SIZE)
    assert (logits - expected).abs().max() <= 1e-4
    if expected_aux is None:
        assert aux is None
    else:
        assert (aux - expected_aux).abs().max() <= 1e-4
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference_model.parameters()
    )


def test_metadata_matches_the_config(case):
    tag, config_name, cfg, reference_model, _ = case
    from mmseg.registry import DATASETS

    info = zoo.model_info(tag)
    dataset_meta = DATASETS.get(cfg.dataset_type).METAINFO
    assert info.num_classes == cfg.model.decode_head.num_classes
    assert info.labels == [c.strip() for c in dataset_meta["classes"]]
    assert [list(c) for c in info.palette] == [list(c) for c in dataset_meta["palette"]]
    assert info.input_size[1:] == tuple(cfg.crop_size)
    preprocessor = cfg.model.data_preprocessor
    assert info.mean == pytest.approx([m / 255 for m in preprocessor.mean], abs=1e-3)
    assert info.std == pytest.approx([s / 255 for s in preprocessor.std], abs=1e-3)
    assert preprocessor.bgr_to_rgb  # the zoo feeds RGB
    resize = next(t for t in cfg.test_pipeline if t["type"] == "Resize")
    assert resize["keep_ratio"] and info.test_resize.mode == "keep_ratio"
    assert info.test_resize.size == tuple(resize["scale"])
    assert cfg.model.test_cfg["mode"] == "whole"
    assert info.params == sum(p.numel() for p in reference_model.parameters())
    assert info.license == "apache-2.0" and info.data_license
    assert info.source["config"] == config_name
    assert info.weight_source == f"url:{info.source['url']}"


def test_every_architecture_has_each_data_set():
    tags = zoo.list_models("*.mmseg_*", pretrained=True, task="segmentation")
    assert len(tags) == 15
    for arch in ("pspnet_resnet50c", "deeplabv3_resnet50c", "deeplabv3plus_resnet50c",
                 "hrnetv2_w18", "hrnetv2_w48"):  # fmt: skip
        assert {t for t in tags if t.startswith(arch + ".")} == {
            f"{arch}.mmseg_{s.tag}" for s in EVAL_SETTINGS.values()
        }
    # the default tag keeps the 21 VOC classes
    assert timm.create_model("pspnet_resnet50c").num_classes == 21


@pytest.mark.parametrize("tag", reference.GOLDEN_TAGS)
def test_golden_values_are_mmsegmentations(tag):
    """The stored golden values (used without mmsegmentation) are the reference's outputs."""
    stored = json.loads(reference.GOLDEN_PATH.read_text())[tag]
    assert reference.reference_golden(tag) == pytest.approx(stored, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("tag", reference.GOLDEN_TAGS)
def test_stored_key_layouts_are_mmsegmentations(tag):
    """The stored layouts (used without mmsegmentation) are the reference models' own."""
    assert reference.stored_key_layouts()[tag] == reference.key_layout(tag)
