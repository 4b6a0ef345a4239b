"""The demo's backend choice: each card says which backend ran, and both give the same answer."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")
pytest.importorskip("onnxruntime")

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo import backends

PERSON = "mediapipe_selfie.general_256"
CLASSIFIER = "tf_efficientnet_lite0.in1k"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_classify_cards_name_their_backend_and_agree(client, photos):
    image = handle_file(str(photos["chelsea_cat.png"]))
    runs = {}
    for backend in ("pytorch", "onnxruntime", "auto"):
        raw, _, table, *_ = client.predict(image, [CLASSIFIER], backend, api_name="/compare")
        (result,) = raw["results"]
        assert result["ok"], result["error"]
        runs[backend] = result
        assert backends.label(result["backend"]) in table["data"][0]
    assert runs["pytorch"]["backend"] == "pytorch"
    assert runs["onnxruntime"]["backend"] == "onnxruntime"
    assert runs["auto"]["backend"] in ("pytorch", "onnxruntime", "openvino")
    tops = {b: r["top"][0] for b, r in runs.items()}
    assert len({t["label"] for t in tops.values()}) == 1
    assert abs(tops["pytorch"]["probability"] - tops["onnxruntime"]["probability"]) < 1e-4


def test_segment_cards_name_their_backend_and_agree(client, photos):
    image = handle_file(str(photos["astronaut.png"]))
    shares = {}
    for backend in ("pytorch", "onnxruntime"):
        raw, verdict, *_ = client.predict(image, [PERSON], 0.5, backend, api_name="/segment")
        (result,) = raw["results"]
        assert result["ok"] and result["backend"] == backend
        assert backends.label(backend) in verdict
        shares[backend] = result["class_shares"]["person"]
    assert abs(shares["pytorch"] - shares["onnxruntime"]) < 1e-3


def test_the_default_backend_is_the_measured_one(client, photos):
    """Left out (an older client), the backend is the picker's default, "auto"."""
    image = handle_file(str(photos["coffee.png"]))
    raw, *_ = client.predict(image, [CLASSIFIER], api_name="/compare")
    assert backends.default() == "auto"
    assert raw["results"][0]["backend"] in ("pytorch", "onnxruntime", "openvino")


def test_unknown_backend_is_a_readable_error(client, photos):
    image = handle_file(str(photos["coffee.png"]))
    with pytest.raises(AppError, match="Backend must be one of"):
        client.predict(image, [CLASSIFIER], "tensorrt", api_name="/compare")


def test_without_onnxruntime_only_pytorch_is_offered(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    assert [value for _, value in backends.choices()] == ["pytorch"]
    assert backends.default() == "pytorch"
    assert backends.backend_value(None) == "pytorch"


def test_openvino_is_offered_when_installed():
    pytest.importorskip("openvino")
    assert ("OpenVINO", "openvino") in backends.choices()
    assert backends.backend_value("openvino") == "openvino"
    assert backends.label("openvino") == "OpenVINO"


def test_int8_is_the_visitor_s_choice_and_its_card_says_so(client, photos):
    """int8 quantizes on first use (calibrated on the example photos) and the card's note
    says how close it stays to float32; "auto" never picks it (above)."""
    image = handle_file(str(photos["astronaut.png"]))
    choice = "openvino-int8" if backends.openvino_installed() else "onnxruntime-int8"
    raw, verdict, *_ = client.predict(image, [PERSON], 0.5, choice, api_name="/segment")
    (result,) = raw["results"]
    assert result["ok"] and result["backend"] == choice, result["error"]
    assert backends.label(choice) in verdict
    assert "int8: gives float32's answer" in result["note"]
    assert result["class_shares"]["person"] > 0.3  # the astronaut is still found
