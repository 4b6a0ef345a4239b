"""python -m zoo.publish: convert a published checkpoint once, push it, load it from the Hub.

A random-weight torchvision checkpoint in the upstream format stands in for the published file
(offline), so the hash check is bypassed with --allow-hash-mismatch where it is not under test.
"""

from __future__ import annotations

import http.server
import threading

import pytest
import torch
import yaml
from torchvision.models import segmentation

import zoo
from zoo.publish import main

TAG = "fcn_resnet50.tv_coco_voc_520"
URL = "https://download.pytorch.org/models/fcn_resnet50_coco-1167a1af.pth"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A torchvision fcn_resnet50 state dict with random weights and BN statistics."""
    torch.manual_seed(0)
    model = segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("upstream") / "fcn_resnet50_coco.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def published(hub_server, checkpoint):
    """The checkpoint published as org/name (module-wide: one conversion for all checks)."""
    from huggingface_hub import constants

    argv = [TAG, "--repo", "org/name", "--file", str(checkpoint), "--allow-hash-mismatch"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # regular uploads
        assert main(argv) == 0
    return checkpoint


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pushed_model_equals_the_checkpoint(published, fresh_cache):
    restored = zoo.create_model("hf-hub:org/name", pretrained=True).eval()
    direct = zoo.create_model(
        TAG, pretrained=True, pretrained_cfg_overlay={"file": str(published)}
    ).eval()
    x = torch.randn(1, 3, 67, 91, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (restored(x) - direct(x)).abs().max() <= 1e-5


def test_pushed_model_info_keeps_the_record_and_source(published, fresh_cache):
    info = zoo.model_info("hf-hub:org/name")
    assert info.dataset == "coco_voc" and info.labels[15] == "person"
    assert info.metrics["mIoU"] == 60.5
    assert info.license == "bsd-3-clause" and "COCO" in (info.data_license or "")
    assert info.test_resize == zoo.model_info(TAG).test_resize
    assert info.source == {
        "url": URL,
        "sha256": _sha256(published),
        "sha256_matches_published": "no",
    }


def test_model_card_names_source_licences_and_mismatch(published, fresh_cache, capsys):
    from huggingface_hub import hf_hub_download

    with open(hf_hub_download("org/name", "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "bsd-3-clause" and front["datasets"] == ["coco_voc"]
    assert URL in card and _sha256(published) in card
    assert "Licence of the weights: bsd-3-clause." in card
    assert "The data set's terms also apply: COCO annotations: CC BY 4.0" in card
    assert "NOT the published checkpoint" in card
    assert "| mIoU | 60.5 |" in card and "| pixel_acc | 91.4 |" in card
    assert "short side resized to 520 px" in card


def test_hash_mismatch_without_the_flag_pushes_nothing(hub_server, checkpoint, capsys):
    code = main([TAG, "--repo", "org/refused", "--file", str(checkpoint)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "not the published checkpoint" in err
    assert "--allow-hash-mismatch" in err and "Traceback" not in err
    assert "org/refused" not in hub_server.state.repos


@pytest.mark.parametrize(
    "tag, message",
    [
        ("no_such_net", "Unknown model"),
        ("pspnet_resnet50", "no weights published at a URL"),
        ("resnet50.a1_in1k", "already on the Hub"),
    ],
)
def test_tags_that_cannot_be_published_exit_2(tag, message, capsys):
    assert main([tag, "--repo", "org/other"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    if message != "Unknown model":
        assert TAG in err  # lists what is publishable


def test_missing_file_and_bad_repo_exit_2(tmp_path, capsys):
    assert main([TAG, "--repo", "org/x", "--file", str(tmp_path / "missing.pth")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main([TAG, "--repo", "not a repo"]) == 2
    assert "org/name" in capsys.readouterr().err


def test_mmseg_tag_publishes_and_loads_from_the_hub(hub_server, fresh_cache, tmp_path):
    """An mmsegmentation checkpoint ({"meta", "state_dict"}) converts once and round-trips."""
    from huggingface_hub import constants

    from . import mmseg_reference as reference

    if not reference.available():
        pytest.skip("mmsegmentation is not installed")
    tag = "hrnetv2_w18.mmseg_cityscapes_512x1024"
    config = reference.config(zoo.model_info(tag).source["config"])
    upstream = reference.fill(reference.build(config), seed=3)
    path = tmp_path / "fcn_hr18.pth"
    torch.save({"meta": {"iter": 160000}, "state_dict": upstream.state_dict()}, path)
    argv = [tag, "--repo", "org/hr18-cityscapes", "--file", str(path), "--allow-hash-mismatch"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        assert main(argv) == 0
    restored = zoo.create_model("hf-hub:org/hr18-cityscapes", pretrained=True).eval()
    x = torch.randn(1, 3, 75, 99, generator=torch.Generator().manual_seed(0))
    expected, _ = reference.forward(upstream, x)
    with torch.no_grad():
        assert (restored(x) - expected).abs().max() <= 1e-4
    info = zoo.model_info("hf-hub:org/hr18-cityscapes")
    assert info.dataset == "cityscapes" and info.num_classes == 19
    assert info.metrics["mIoU_ms_flip"] == 80.74
    assert "non-commercial" in (info.data_license or "")
    assert info.source["config"] == "fcn_hr18_4xb2-160k_cityscapes-512x1024"


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A Hub that answers every request with 401 Unauthorized."""

    def log_message(self, *args):
        pass

    def _refuse(self):
        body = b'{"error": "Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _refuse


def test_hub_refusal_is_one_line_and_exit_2(checkpoint, monkeypatch, capsys):
    from huggingface_hub import constants

    from zoo import hub

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        hub._probe_cache.clear()
        argv = [TAG, "--repo", "org/denied", "--file", str(checkpoint), "--allow-hash-mismatch"]
        assert main(argv) == 2
    finally:
        server.shutdown()
        hub._probe_cache.clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 401" in err and "HF_TOKEN" in err
    assert "Traceback" not in err


def test_unreachable_hub_is_refused_before_any_conversion(checkpoint, monkeypatch, capsys):
    from huggingface_hub import constants

    from tests.conftest import free_port
    from zoo import hub

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    hub._probe_cache.clear()
    converted = []
    monkeypatch.setattr("zoo.publish.create_model", lambda *a, **k: converted.append(a))
    try:
        assert main([TAG, "--repo", "org/x", "--file", str(checkpoint)]) == 2
    finally:
        hub._probe_cache.clear()
    assert "unreachable" in capsys.readouterr().err and not converted
