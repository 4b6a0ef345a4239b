"""backend="openvino": the same export run by OpenVINO gives the same results as ONNX Runtime,
float and int8 files alike, in the library and ``python -m zoo predict``; a damaged file and a
missing extra are one line each."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo import runtime

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
PERSON = "mediapipe_selfie.general_256"


@pytest.fixture(scope="module")
def exported(person_exports):
    model, folder, _ = person_exports
    return model, folder


def test_openvino_runs_the_export_as_onnx_runtime_does(exported, photos):
    _, folder = exported
    ort, ov = zoo.ORTModel(folder / "fp32.onnx"), runtime.OVModel(folder / "fp32.onnx")
    assert ov.backend == "openvino" and ov.pretrained_cfg["label_names"] == ["background", "person"]
    x = torch.rand(2, 3, 200, 300)  # dynamic batch, height and width
    assert torch.allclose(ort(x), ov(x), atol=1e-3)
    a, b = zoo.segment(ort, photos["astronaut.png"]), zoo.segment(ov, photos["astronaut.png"])
    assert float((a.mask == b.mask).mean()) > 0.999


def test_an_int8_file_runs_on_openvino(exported, photos):
    _, folder = exported
    ov = runtime.OVModel(folder / "int8.onnx")
    assert ov.quantization is not None and ov.quantization["type"] == "int8"
    float_mask = zoo.segment(zoo.ORTModel(folder / "fp32.onnx"), photos["astronaut.png"]).mask
    assert float((zoo.segment(ov, photos["astronaut.png"]).mask == float_mask).mean()) > 0.85


def test_backend_openvino_in_the_library(exported, photos):
    model, _ = exported
    runner = runtime.with_backend(model, "openvino")
    assert isinstance(runner, runtime.OVModel)
    assert runtime.with_backend(model, "openvino") is runner  # exported and compiled once
    result = zoo.segment(model, photos["astronaut.png"], backend="openvino")
    reference = zoo.segment(model, photos["astronaut.png"], backend="pytorch")
    assert float((result.mask == reference.mask).mean()) > 0.999
    session = zoo.ORTModel(runtime.cached_export(model))
    assert isinstance(runtime.with_backend(session, "openvino"), runtime.OVModel)
    with pytest.raises(zoo.ConfigError, match="cannot run on PyTorch"):
        runtime.with_backend(runner, "pytorch")


def test_a_damaged_file_and_the_missing_extra(exported, tmp_path, monkeypatch):
    _, folder = exported
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((folder / "fp32.onnx").read_bytes()[:4000])
    with pytest.raises(zoo.ConfigError, match="OpenVINO cannot load") as caught:
        runtime.OVModel(cut)
    assert "\n" not in str(caught.value)
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(zoo.MissingExtraError, match=r"pip install 'vision-zoo\[openvino\]'"):
        runtime.OVModel(folder / "fp32.onnx")
    assert not runtime.openvino_available()


def test_predict_on_openvino(exported, photos, tmp_path):
    from zoo.__main__ import main

    _, folder = exported
    out = tmp_path / "out"
    args = ["predict", str(photos["astronaut.png"]), "--model", str(folder / "int8.onnx"),
            "--backend", "openvino", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    mask = np.asarray(Image.open(out / "astronaut_mask.png"))
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 1}


def test_int8_backends_quantize_once_and_share_the_file(exported, tmp_path, monkeypatch):
    model, folder = exported
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "cache"))
    on_ort = runtime.with_backend(model, "onnxruntime-int8")
    on_ov = runtime.with_backend(model, "openvino-int8")
    assert type(on_ort) is zoo.ORTModel and isinstance(on_ov, runtime.OVModel)
    assert on_ort.path == on_ov.path and on_ort.path.name.endswith("-int8.onnx")
    assert on_ov.quantization is not None and on_ov.quantization["type"] == "int8"
    assert runtime.with_backend(model, "onnxruntime-int8") is on_ort
    with pytest.raises(zoo.ConfigError, match="is a float export; quantize"):
        runtime.with_backend(zoo.ORTModel(folder / "fp32.onnx"), "openvino-int8")
    assert runtime.with_backend(zoo.ORTModel(folder / "int8.onnx"), "openvino-int8").backend == (
        "openvino"
    )
