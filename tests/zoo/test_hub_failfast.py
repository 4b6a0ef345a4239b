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
