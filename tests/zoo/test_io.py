"""save_pretrained → create_model('local-dir:...') round trip, and damaged directories."""

from __future__ import annotations

import json

import pytest
import timm
import torch

import zoo


def _same_outputs(a, b, size=(2, 3, 96, 112)):
    a.eval()
    b.eval()
    x = torch.randn(*size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_round_trip_pretrained(lite0, tmp_path):
    zoo.save_pretrained(lite0, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    restored = zoo.create_model(f"local-dir:{tmp_path / 'm'}")
    assert _same_outputs(lite0, restored)
    assert zoo.get_labels(restored) == zoo.get_labels(lite0)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging directory left behind


def test_config_is_timm_and_hf_compatible(tmp_path):
    model = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True, num_classes=3)
    zoo.save_pretrained(model, tmp_path, labels=["rock", "paper", "scissors"])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "tf_efficientnet_lite0"
    assert config["num_classes"] == 3
    assert config["id2label"] == {"0": "rock", "1": "paper", "2": "scissors"}
    assert config["label2id"] == {"rock": 0, "paper": 1, "scissors": 2}
    assert config["pretrained_cfg"]["mean"] == [0.5, 0.5, 0.5]
    assert config["task"] == "classification"
    by_timm = timm.create_model(f"local-dir:{tmp_path}", pretrained=True)
    by_zoo = zoo.from_pretrained(tmp_path)
    assert _same_outputs(model, by_timm) and _same_outputs(model, by_zoo)
    assert zoo.get_labels(by_zoo) == ["rock", "paper", "scissors"]


def test_wrong_number_of_labels(lite0, tmp_path):
    with pytest.raises(ValueError, match="1000 label names"):
        zoo.save_pretrained(lite0, tmp_path, labels=["a", "b"])


def test_missing_directory(tmp_path):
    with pytest.raises(zoo.CheckpointError, match=r"config\.json is missing"):
        zoo.create_model(f"local-dir:{tmp_path / 'nothing'}")


def test_truncated_checkpoint(tmp_path):
    model = zoo.create_model("resnet18", num_classes=4)
    zoo.save_pretrained(model, tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(zoo.CheckpointError, match=str(tmp_path)):
        zoo.from_pretrained(tmp_path)


def test_missing_weights_file(tmp_path):
    zoo.save_pretrained(zoo.create_model("resnet18", num_classes=4), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(zoo.CheckpointError, match="no weights file"):
        zoo.from_pretrained(tmp_path)
