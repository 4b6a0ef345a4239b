"""int8 exports (zoo.export(..., quantize="int8"), python -m zoo export --int8): the file says
what it is and how close it stays to the float graph, runs through the pipeline unchanged,
and bad calls, damaged files and a missing extra are one line each."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.quantize import calibration_images

pytest.importorskip("onnxruntime")
PERSON = "mediapipe_selfie.general_256"


@pytest.fixture(scope="module")
def int8_person(person_exports):
    _, folder, report = person_exports
    return folder, report


def test_an_int8_file_records_its_quantization_and_runs_like_any_export(int8_person, photos):
    folder, report = int8_person
    record = report.quantization
    assert record["type"] == "int8" and record["format"] == "QDQ"
    assert "example photos" in record["calibration"] and record["calibration_images"] == 12
    assert record["agreement_with_float"] >= 0.85  # pixels, on the calibration views
    int8, fp32 = zoo.ORTModel(folder / "int8.onnx"), zoo.ORTModel(folder / "fp32.onnx")
    assert int8.quantization == record and fp32.quantization is None
    assert (folder / "int8.onnx").stat().st_size < (folder / "fp32.onnx").stat().st_size
    a, b = zoo.segment(fp32, photos["astronaut.png"]), zoo.segment(int8, photos["astronaut.png"])
    assert a.mask.shape == b.mask.shape and float((a.mask == b.mask).mean()) > 0.85
    assert b.labels == ["background", "person"]


def test_calibration_on_a_folder_and_on_images(tmp_path, photos, monkeypatch):
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)  # the quantizer must leave nothing in the current directory
    model = zoo.create_model(PERSON, pretrained=True)
    folder = tmp_path / "calib"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        (folder / name).write_bytes(photos[name].read_bytes())
    (folder / "notes.txt").write_text("not an image")
    report = zoo.export(model, tmp_path / "a.onnx", quantize="int8", calibration=folder)
    assert report.quantization["calibration"] == "2 images from calib/"
    assert list(here.iterdir()) == []
    pixels = np.asarray(Image.open(photos["astronaut.png"]).convert("RGB"))
    images, described = calibration_images([pixels])
    assert len(images) == 1 and described == "1 image given"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [(dict(quantize="int4"), "quantize must be None or one of ('int8',)"),
     (dict(quantize="int8", fp16=True), "quantize and fp16 exclude each other"),
     (dict(quantize="int8", calibration="/nonexistent"), "must be a folder of images"),
     (dict(quantize="int8", calibration=[]), "empty list")],
)  # fmt: skip
def test_bad_int8_calls_are_one_line(tmp_path, kwargs, words):
    model = zoo.create_model(PERSON, pretrained=True)
    with pytest.raises(zoo.ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        zoo.export(model, tmp_path / "x.onnx", **kwargs)
    assert not (tmp_path / "x.onnx").exists()


def test_an_empty_calibration_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.ConfigError, match="holds no images"):
        zoo.export(PERSON, tmp_path / "x.onnx", quantize="int8", calibration=tmp_path / "empty")


def test_a_damaged_or_mismatched_int8_file(int8_person, tmp_path, photos):
    folder, _ = int8_person
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((folder / "int8.onnx").read_bytes()[:5000])
    with pytest.raises(zoo.ConfigError, match="ONNX Runtime cannot load") as caught:
        zoo.ORTModel(cut)
    assert "\n" not in str(caught.value).strip()[:300]
    segmenter = zoo.ORTModel(folder / "int8.onnx")
    with pytest.raises(zoo.ConfigError, match="classify needs a classifier"):
        zoo.classify(segmenter, photos["coffee.png"])


def test_without_the_quantization_tools_it_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # import fails
    with pytest.raises(zoo.MissingExtraError, match=r"pip install 'vision-zoo\[onnx\]'"):
        zoo.export(PERSON, tmp_path / "x.onnx", quantize="int8")
    assert not (tmp_path / "x.onnx").exists()


def test_the_command_line(tmp_path, capsys):
    from zoo.__main__ import main

    assert main(["export", PERSON, "--out", str(tmp_path / "p.onnx"), "--int8"]) == 0
    assert "int8 (QDQ, calibrated on the 6 example photos" in capsys.readouterr().out
    assert zoo.ORTModel(tmp_path / "p.onnx").quantization is not None
    refused = main(["export", PERSON, "--out", str(tmp_path / "q.onnx"), "--calibration",
                    str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert refused == 2 and "add --int8" in err and len(err.strip().splitlines()) == 1


def test_predict_runs_an_exported_file(int8_person, photos, tmp_path, capsys):
    from zoo.__main__ import main

    folder, _ = int8_person
    model = str(folder / "int8.onnx")
    out = tmp_path / "out"
    assert main(["predict", str(photos["astronaut.png"]), "--model", model, "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    assert (out / "astronaut_mask.png").is_file()
    refused = main(["predict", str(photos["astronaut.png"]), "--model", model, "--backend",
                    "pytorch", "--out", str(tmp_path / "x")])  # fmt: skip
    assert refused == 2 and "leave out --backend pytorch" in capsys.readouterr().err
    missing = main(["predict", str(photos["astronaut.png"]), "--model",
                    str(tmp_path / "gone.onnx"), "--out", str(tmp_path / "y")])  # fmt: skip
    err = capsys.readouterr().err
    assert missing == 2 and "gone.onnx: no such file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y").exists()
