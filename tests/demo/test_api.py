"""The demo's named API endpoint through gradio_client, and bad uploads."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

TWO = ["tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k"]


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _compare(client, path, models=TWO):
    return client.predict(handle_file(str(path)), models, api_name="/compare")


def test_compare_endpoint(client, photos):
    raw, verdict, comparison, *_cards = _compare(client, photos["chelsea_cat.png"])
    assert [r["name"] for r in raw["results"]] == TWO
    for result in raw["results"]:
        assert result["ok"] and len(result["top"]) == 5 and result["latency_ms"] > 0
        assert "cat" in result["top"][0]["label"]
    assert "top-1" in verdict
    assert len(comparison["data"]) == 2


def test_non_image_upload_is_a_readable_error_and_server_survives(client, photos, tmp_path):
    text = tmp_path / "report.pdf"
    text.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(AppError, match=r"report\.pdf is not an image.*PNG, JPEG"):
        _compare(client, text)
    raw, *_ = _compare(client, photos["coffee.png"], ["tf_efficientnet_lite0.in1k"])
    assert raw["results"][0]["top"][0]["label"] == "espresso"


def test_unusual_modes_are_handled(client, tmp_path):
    gradient = np.tile(np.arange(256, dtype=np.uint16) * 257, (64, 1))
    path = tmp_path / "sixteen_bit.png"
    Image.fromarray(gradient).save(path)
    raw, *_ = _compare(client, path, ["tf_efficientnet_lite0.in1k"])
    assert raw["results"][0]["ok"]


def test_too_many_models(client, photos):
    with pytest.raises(AppError, match="at most 4"):
        _compare(client, photos["coffee.png"], [*TWO, "a", "b", "c"])


def test_image_with_too_many_pixels_is_refused_before_decoding(client, tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 7000)).save(path)  # 56 megapixels, a small file
    with pytest.raises(AppError, match=r"56\.0 megapixels; the limit is 50"):
        _compare(client, path, ["tf_efficientnet_lite0.in1k"])


def test_upload_over_the_size_limit_is_refused(client, tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(b"\x89PNG" + bytes(21 * 1024 * 1024))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        _compare(client, path, ["tf_efficientnet_lite0.in1k"])
