"""An unreachable Hub fails within seconds, naming the model, never falling back to random init."""

from __future__ import annotations

import socket
import time

import pytest
from huggingface_hub import constants

import zoo
from tests.conftest import FAIL_FAST_S, free_port
from zoo import hub


@pytest.fixture
def endpoint(monkeypatch):
    def point_at(url: str) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        hub._probe_cache.clear()

    yield point_at
    hub._probe_cache.clear()


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections but never answers (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("name", ["resnet18.a1_in1k", "hf-hub:someone/some-model"])
def test_closed_port_fails_fast(endpoint, name):
    endpoint(f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError) as info:
        zoo.create_model(name, pretrained=True)
    assert time.monotonic() - start < FAIL_FAST_S
    message = str(info.value)
    assert name in message and "unreachable" in message and "offline" in message


def test_silent_port_fails_fast(endpoint, silent_port):
    endpoint(f"http://127.0.0.1:{silent_port}")
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError, match=r"resnet18\.a1_in1k"):
        zoo.create_model("resnet18.a1_in1k", pretrained=True)
    assert time.monotonic() - start < FAIL_FAST_S


def test_offline_mode_fails_at_once(monkeypatch, connections):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(zoo.HubUnreachableError, match="HF_HUB_OFFLINE"):
        zoo.create_model("resnet18.a1_in1k", pretrained=True)
    assert connections == []  # not even a probe


def test_installed_weights_need_no_network(endpoint, silent_port, connections):
    endpoint(f"http://127.0.0.1:{silent_port}")
    zoo.create_model("tf_efficientnet_lite1.in1k", pretrained=True)
    assert connections == []  # the Hub was never probed


def test_probe_restores_offline_flag(endpoint):
    endpoint(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(zoo.HubUnreachableError):
        zoo.create_model("resnet18.a1_in1k", pretrained=True)
    assert constants.HF_HUB_OFFLINE is False


@pytest.mark.parametrize("failure", ["500", "stall"])
def test_a_hub_that_answers_the_probe_then_fails_fails_within_seconds(
    hub_server, fresh_cache, failure
):
    repo = f"org/flaky-{failure}"
    zoo.push_to_hub(zoo.create_model("resnet20_cifar"), repo)
    hub_server.state.failing = failure
    try:
        start = time.monotonic()
        with pytest.raises(zoo.HubUnreachableError, match="answered at first, then failed") as info:
            zoo.create_model(f"hf-hub:{repo}", pretrained=True)
        assert time.monotonic() - start < FAIL_FAST_S  # huggingface_hub alone retries ~23 s
    finally:
        hub_server.state.failing = None
    assert repo in str(info.value) and "offline" in str(info.value)


def test_a_cached_model_loads_while_the_hub_fails(hub_server, fresh_cache):
    import torch

    model = zoo.create_model("resnet20_cifar").eval()
    zoo.push_to_hub(model, "org/cached-flaky")
    zoo.create_model("hf-hub:org/cached-flaky", pretrained=True)  # fills the cache
    hub_server.state.failing = "500"
    try:
        start = time.monotonic()
        again = zoo.create_model("hf-hub:org/cached-flaky", pretrained=True).eval()
        assert time.monotonic() - start < FAIL_FAST_S
    finally:
        hub_server.state.failing = None
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_a_weights_download_that_stalls_part_way_fails_in_one_line(hub_server, fresh_cache):
    zoo.push_to_hub(zoo.create_model("resnet20_cifar"), "org/stalls")
    hub_server.state.failing = "stall-get"
    try:
        start = time.monotonic()
        with pytest.raises(zoo.HubUnreachableError, match="org/stalls") as info:
            zoo.create_model("hf-hub:org/stalls", pretrained=True)
        elapsed = time.monotonic() - start
    finally:
        hub_server.state.failing = None
    assert "\n" not in str(info.value)
    assert elapsed < 3 * FAIL_FAST_S  # huggingface_hub's own read timeout (10 s) applies
