"""Published (URL) weights: downloaded through timm's pretrained path, checked against the
sha256 prefix in their file name, converted and loaded strictly; clear and fast offline."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import time

import pytest
import torch

import zoo
import zoo.weights
from tests.conftest import FAIL_FAST_S, free_port, refuse_connections

from . import mmseg_reference as reference

TAG = "hrnetv2_w18.mmseg_cityscapes_512x1024"


@pytest.fixture
def torch_cache(tmp_path, monkeypatch):
    """An empty torch.hub / timm download cache."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    return tmp_path / "torch-hub" / "checkpoints"


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server over a folder: (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def upstream_bytes(tmp_path_factory):
    """A random-weight checkpoint of the tag's mmsegmentation config, in its format."""
    if not reference.available():
        pytest.skip("mmsegmentation is not installed")
    config = zoo.model_info(TAG).source["config"]
    model = reference.fill(reference.build(reference.config(config)), seed=2)
    path = tmp_path_factory.mktemp("upstream") / "ckpt.pth"
    torch.save({"meta": {"iter": 160000}, "state_dict": model.state_dict()}, path)
    return path.read_bytes(), model


def test_download_is_checked_converted_and_loaded(upstream_bytes, file_server, torch_cache):
    data, reference_model = upstream_bytes
    root, base = file_server
    name = f"fcn_hr18_test-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (root / name).write_bytes(data)
    model = zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": f"{base}/{name}"})
    assert (torch_cache / name).is_file()  # cached where timm looks for it
    x = torch.randn(1, 3, 75, 99)
    expected, _ = reference.forward(reference_model, x)
    with torch.no_grad():
        assert (model.eval()(x) - expected).abs().max() <= 1e-4
    # a second load reads the cache, without the server
    root.joinpath(name).unlink()
    zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": f"{base}/{name}"})


def test_download_with_wrong_hash_is_refused_and_not_kept(upstream_bytes, file_server, torch_cache):
    data, _ = upstream_bytes
    root, base = file_server
    name = "fcn_hr18_test-deadbeef.pth"
    (root / name).write_bytes(data)
    with pytest.raises(zoo.CheckpointError, match=r"not the published file.*deadbeef"):
        zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": f"{base}/{name}"})
    assert not torch_cache.exists() or not any(torch_cache.iterdir())


def test_damaged_cached_file_is_named(file_server, torch_cache):
    _, base = file_server
    torch_cache.mkdir(parents=True)
    (torch_cache / "fcn_hr18_test-0badcafe.pth").write_bytes(b"truncated")
    url = f"{base}/fcn_hr18_test-0badcafe.pth"
    with pytest.raises(
        zoo.CheckpointError, match=r"do not match the sha256 prefix 0badcafe.*delete"
    ):
        zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": url})


@pytest.mark.parametrize(
    "tag",
    [
        "pspnet_resnet50c.mmseg_ade20k_512",
        "hrnetv2_w48.mmseg_voc12aug_512",
        "deeplabv3_resnet101.tv_coco_voc_520",
    ],
)
def test_unreachable_upstream_fails_fast_naming_the_tag(tag, torch_cache, monkeypatch):
    """The tag's own URL, its host made unreachable (a refused port), whatever this machine's
    network: a clear error within 5 s."""
    from timm.models import get_pretrained_cfg

    name = get_pretrained_cfg(tag).url.rsplit("/", 1)[-1]
    url = f"http://127.0.0.1:{free_port()}/{name}"
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError, match=rf"{tag}.*unreachable.*{name}"):
        zoo.create_model(tag, pretrained=True, pretrained_cfg_overlay={"url": url})
    assert time.monotonic() - start < FAIL_FAST_S


def test_offline_mode_says_so_and_where_to_put_the_file(torch_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(zoo.HubUnreachableError, match=r"offline mode is on.*place it at"):
        zoo.create_model(TAG, pretrained=True)


def test_cached_file_loads_with_no_network(upstream_bytes, file_server, torch_cache, monkeypatch):
    from huggingface_hub import constants

    data, _ = upstream_bytes
    root, base = file_server
    name = f"fcn_hr18_cached-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (root / name).write_bytes(data)
    url = f"{base}/{name}"
    zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": url})
    (root / name).unlink()  # the upstream is gone, and the Hub library is offline
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    connections = refuse_connections(monkeypatch)
    zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": url})
    assert connections == []


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Misbehaving upstreams: 404, a body shorter than announced, a stall mid-download."""

    behaviour = "404"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        if self.behaviour == "404":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(b"x" * 1000)
        self.wfile.flush()
        if self.behaviour == "stall":
            time.sleep(3)


@pytest.fixture
def bad_upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weights-0123abcd.pth"
    server.shutdown()


@pytest.mark.parametrize(
    ("behaviour", "error", "match"),
    [
        ("404", zoo.WeightsUnavailableError, r"answered HTTP 404"),
        ("short", zoo.CheckpointError, r"ended after 1,000 of 1,000,000 bytes"),
        ("stall", zoo.HubUnreachableError, r"stopped: .*timed out"),
    ],
)
def test_bad_downloads_fail_fast_and_keep_nothing(
    behaviour, error, match, bad_upstream, torch_cache, monkeypatch
):
    monkeypatch.setattr(_Upstream, "behaviour", behaviour)
    # Only the stall waits for a timeout; the others must not meet theirs on a loaded machine
    # (a probe that answered late once made the 404 read as "unreachable").
    monkeypatch.setattr(zoo.weights, "READ_TIMEOUT_S", 2.0 if behaviour == "stall" else 5.0)
    monkeypatch.setattr(zoo.hub, "PROBE_TIMEOUT_S", 4.0)
    start = time.monotonic()
    with pytest.raises(error, match=match):
        zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"url": bad_upstream})
    assert time.monotonic() - start < FAIL_FAST_S
    assert not torch_cache.exists() or not any(torch_cache.iterdir())


def test_checkpoint_in_the_upstream_format_loads_with_weights_only(upstream_bytes, tmp_path):
    """A legacy (non-zip) torch.save with an mmcv-style meta and an optimizer state, as the
    published v0.x checkpoints are, loads through the safe unpickler."""
    _, reference_model = upstream_bytes
    state = reference_model.state_dict()
    checkpoint = {
        "meta": {"mmcv_version": "1.0.5", "time": "Tue Jun  2 19:08:22 2020", "iter": 160000,
                 "epoch": 80, "config": "norm_cfg = dict(type='SyncBN')\n", "CLASSES":
                 ("road", "sidewalk"), "PALETTE": [[128, 64, 128], [244, 35, 232]]},
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]},
    }  # fmt: skip
    path = tmp_path / "legacy.pth"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    model = zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    assert torch.equal(model.classifier.weight, state["decode_head.conv_seg.weight"])


def test_unsupported_mmseg_layout_is_a_checkpoint_error(tmp_path):
    bogus = {"backbone.conv1.weight": torch.zeros(1), "decode_head.conv_seg.weight": torch.zeros(1),
             "decode_head.convs.1.conv.weight": torch.zeros(1)}  # fmt: skip
    path = tmp_path / "fcn_r50.pth"
    torch.save({"state_dict": bogus}, path)
    with pytest.raises(zoo.CheckpointError, match=r"not one the zoo converts.*convs\.1"):
        zoo.create_model(TAG, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
