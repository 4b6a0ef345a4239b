"""Push to / load from a Hub: the real huggingface_hub client against tests/hub_server.py."""

from __future__ import annotations

import time

import pytest
import torch
import yaml
from huggingface_hub import constants

import zoo
from tests.conftest import refuse_connections
from tests.hub_server import Repo
from zoo import hub


def _outputs(model, shape):
    model.eval()
    with torch.no_grad():
        return model(torch.randn(*shape, generator=torch.Generator().manual_seed(1)))


def test_push_and_load_classifier(hub_server, fresh_cache):
    model = zoo.create_model("resnet20_cifar", num_classes=4)
    url = zoo.push_to_hub(
        model,
        "org/cifar-four",
        labels=["a", "b", "c", "d"],
        metrics={"top1": 0.91},
        dataset="digits",
    )
    assert "/org/cifar-four/commit/" in url
    restored = zoo.create_model("hf-hub:org/cifar-four", pretrained=True)
    assert torch.equal(_outputs(model, (2, 3, 32, 32)), _outputs(restored, (2, 3, 32, 32)))
    assert zoo.get_labels(restored) == ["a", "b", "c", "d"]


def test_push_and_load_segmentation(hub_server, fresh_cache):
    model = zoo.create_model(
        "deeplabv3", backbone="tf_efficientnet_lite0", num_classes=3, output_stride=16
    )
    zoo.push_to_hub(model, "org/seg-three", labels=["bg", "rock", "sky"], metrics={"mIoU": 0.8})
    restored = zoo.create_model("hf-hub:org/seg-three", pretrained=True)
    assert restored.backbone_name == "tf_efficientnet_lite0" and restored.output_stride == 16
    shape = (1, 3, 64, 96)
    assert torch.equal(_outputs(model, shape), _outputs(restored, shape))
    assert zoo.get_palette(restored) == zoo.get_palette(model)
    assert zoo.model_info("hf-hub:org/seg-three").metrics == {"mIoU": 0.8}
    assert restored.pretrained_cfg["zoo"]["metrics"] == {"mIoU": 0.8}


def test_model_card(hub_server, fresh_cache, tmp_path):
    from huggingface_hub import hf_hub_download

    model = zoo.create_model("resnet20_cifar")
    zoo.push_to_hub(model, "org/card", metrics={"top1": 0.9525, "top5": 0.999}, dataset="digits")
    with open(hf_hub_download("org/card", "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    front = yaml.safe_load(text.split("---")[1])
    assert front["library_name"] == "timm"
    assert front["pipeline_tag"] == "image-classification"
    assert front["license"] == "apache-2.0"
    assert front["datasets"] == ["digits"]
    assert "vision-zoo" in front["tags"]
    results = front["model-index"][0]["results"][0]
    assert {m["type"]: m["value"] for m in results["metrics"]} == {"top1": 0.9525, "top5": 0.999}
    assert 'zoo.create_model("hf-hub:org/card", pretrained=True)' in text
    assert "| 3 | cat |" in text  # CIFAR-10 labels


def test_revisions(hub_server, fresh_cache):
    first = zoo.create_model("resnet20_cifar")
    url = zoo.push_to_hub(first, "org/revs")
    second = zoo.create_model("resnet20_cifar")
    zoo.push_to_hub(second, "org/revs")
    sha = url.rsplit("/", 1)[-1]
    old = zoo.create_model(f"hf-hub:org/revs@{sha}", pretrained=True)
    new = zoo.create_model("hf-hub:org/revs", pretrained=True)
    shape = (1, 3, 32, 32)
    assert torch.equal(_outputs(first, shape), _outputs(old, shape))
    assert torch.equal(_outputs(second, shape), _outputs(new, shape))
    with pytest.raises(zoo.UnknownModelError, match="revision"):
        zoo.create_model("hf-hub:org/revs@no-such-branch", pretrained=True)


def test_cached_model_loads_offline(hub_server, fresh_cache, monkeypatch):
    model = zoo.create_model("resnet20_cifar")
    zoo.push_to_hub(model, "org/offline")
    zoo.create_model("hf-hub:org/offline", pretrained=True)  # fills the cache
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    connections = refuse_connections(monkeypatch)
    again = zoo.create_model("hf-hub:org/offline", pretrained=True)
    assert connections == []  # read from the cache, the server never asked
    assert torch.equal(_outputs(model, (1, 3, 32, 32)), _outputs(again, (1, 3, 32, 32)))


def test_missing_repo_and_missing_file(hub_server, fresh_cache):
    with pytest.raises(zoo.UnknownModelError, match="no such repository"):
        zoo.create_model("hf-hub:org/does-not-exist", pretrained=True)
    empty = hub_server.state.repos["org/empty"] = Repo()
    empty.commit("main", {"README.md": b"hi"}, set(), "init")
    with pytest.raises(zoo.WeightsUnavailableError, match=r"config\.json"):
        zoo.create_model("hf-hub:org/empty", pretrained=True)


def test_push_when_unreachable_fails_fast(monkeypatch, tmp_path):
    from tests.conftest import FAIL_FAST_S, free_port

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    hub._probe_cache.clear()
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError, match="save_pretrained"):
        zoo.push_to_hub(zoo.create_model("resnet20_cifar"), "org/nowhere")
    assert time.monotonic() - start < FAIL_FAST_S
    hub._probe_cache.clear()


def test_spatial_lstm_cards_report_the_measured_ablation(tmp_path):
    """The ablation that benchmarks/results.py measured (zoo/bundled/measured/slstm.md) is in
    the card of every spatial-LSTM model, whatever it found, and in no other family's card."""
    from zoo.catalog import measured_note
    from zoo.push import model_card

    note = measured_note("slstm_resnet50")
    assert note and "with and without its zig-zag LSTM" in note and "95 % CI" in note
    assert measured_note("fcn_resnet50") is None and measured_note("no_such_model") is None
    model = zoo.create_model("slstm", backbone="test_resnet", num_classes=3)
    zoo.save_pretrained(model, tmp_path / "slstm", labels=["a", "b", "c"])
    card = model_card(zoo.model_info(f"local-dir:{tmp_path / 'slstm'}"), "me/slstm")
    assert "## Measured in vision-zoo" in card and note.splitlines()[0] in card
    fcn = zoo.create_model("fcn", backbone="test_resnet", num_classes=3, aux_head=False)
    zoo.save_pretrained(fcn, tmp_path / "fcn", labels=["a", "b", "c"])
    assert "## Measured" not in model_card(zoo.model_info(f"local-dir:{tmp_path / 'fcn'}"), "me/f")
