"""python -m zoo predict: images, folders and videos; classifiers print, segmenters write."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.__main__ import main

from .test_segment import tiny


@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    zoo.save_pretrained(tiny(input_size=(3, 64, 64)), path, labels=["bg", "rock", "sky"])
    return path


@pytest.fixture
def inputs(tmp_path, photos):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    Image.open(photos["astronaut.png"]).resize((120, 90)).save(folder / "a.png")
    Image.open(photos["coffee.png"]).resize((64, 48)).save(folder / "nested" / "b.jpg")
    (folder / ".hidden.png").write_bytes(b"skip me")
    return folder


def test_segmenter_writes_overlays_masks_and_a_csv(saved_segmenter, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", f"local-dir:{saved_segmenter}",
                 "--out", str(out), "--tta", "flip"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "a.png:" in printed and "b.jpg:" in printed
    mask = Image.open(out / "a_mask.png")
    assert mask.mode == "P" and mask.size == (120, 90)
    assert np.asarray(mask).max() <= 2 and mask.getpalette()[:3] == [0, 0, 0]
    assert Image.open(out / "nested" / "b_overlay.png").size == (64, 48)
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [r["input"].rsplit("/", 1)[-1] for r in rows] == ["a.png", "b.jpg"]
    assert rows[0]["width"] == "120" and "=" in rows[0]["classes"]


def test_classifier_prints_top_k(inputs, tmp_path, capsys):
    code = main(["predict", str(inputs / "a.png"), "--model", "tf_efficientnet_lite0",
                 "--top-k", "2", "--out", str(tmp_path / "c")])  # fmt: skip
    assert code == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"{inputs / 'a.png'}: ") and line.count(", ") >= 1


def test_bad_file_is_one_line_and_the_rest_still_runs(saved_segmenter, inputs, tmp_path, capsys):
    (inputs / "broken.png").write_bytes(b"not an image")
    code = main(["predict", str(inputs), "--model", f"local-dir:{saved_segmenter}",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "broken.png" in err and "Traceback" not in err
    assert (tmp_path / "o" / "a_overlay.png").is_file()


def test_video_input(saved_segmenter, tmp_path, photos, capsys):
    pytest.importorskip("av")
    from .test_video import write_clip

    clip = write_clip(tmp_path / "clip.mp4", Image.open(photos["astronaut.png"]).convert("RGB"), 1)
    assert main(["predict", str(clip), "--model", f"local-dir:{saved_segmenter}",
                 "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    assert "12 frames at 12 fps" in capsys.readouterr().out
    assert (tmp_path / "v" / "clip_overlay.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("model", "message"),
    [("no_such_model", "Unknown model"), ("pspnet_resnet50", "no pretrained weights")],
)
def test_model_problems_exit_2_in_one_line(model, message, inputs):
    run = subprocess.run([sys.executable, "-m", "zoo", "predict", str(inputs), "--model", model],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr and "Traceback" not in run.stderr


def test_same_names_do_not_overwrite_and_outputs_are_not_inputs(saved_segmenter, inputs, tmp_path,
                                                                 photos, capsys):  # fmt: skip
    Image.open(photos["astronaut.png"]).resize((40, 30)).save(inputs / "a.jpg")  # a.png too
    out = inputs / "predictions"  # inside the input folder, as with the default --out
    for _ in range(2):
        assert main(["predict", str(inputs), "--model", f"local-dir:{saved_segmenter}",
                     "--out", str(out)]) == 0  # fmt: skip
    assert (out / "a_overlay.png").is_file() and (out / "a-2_overlay.png").is_file()
    assert not list(out.rglob("*_overlay_overlay.png")) and not (out / "a-3_overlay.png").exists()
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(rows) == 3 and len({r["overlay"] for r in rows}) == 3  # the rerun found all done


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--alpha", "2"], "--alpha"), (["--device", "banana"], "--device"),
     (["--out", "__FILE__"], "not a folder")],
)  # fmt: skip
def test_bad_options_are_refused_before_any_work(saved_segmenter, inputs, tmp_path, capsys,
                                                 extra, message):  # fmt: skip
    blocker = tmp_path / "file"
    blocker.write_text("x")
    extra = [str(blocker) if e == "__FILE__" else e for e in extra]
    assert main(["predict", str(inputs), "--model", f"local-dir:{saved_segmenter}", *extra]) == 2
    assert message in capsys.readouterr().err


def test_empty_folder_is_an_error(saved_segmenter, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model", f"local-dir:{saved_segmenter}",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "No images or videos" in capsys.readouterr().err


def test_export_writes_a_checked_onnx_file(saved_segmenter, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "tiny.onnx"
    assert main(["export", f"local-dir:{saved_segmenter}", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dynamic: batch, height, width" in printed and "max |Δ|" in printed
    session = zoo.ORTModel(out)
    assert zoo.get_labels(session) == ["bg", "rock", "sky"]
    assert main(["export", f"local-dir:{saved_segmenter}", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_predict_on_onnxruntime_writes_the_same_masks(saved_segmenter, inputs, tmp_path):
    pytest.importorskip("onnxruntime")
    model = f"local-dir:{saved_segmenter}"
    for backend in ("pytorch", "onnxruntime"):
        argv = ["predict", str(inputs / "a.png"), "--model", model, "--backend", backend]
        assert main([*argv, "--out", str(tmp_path / backend)]) == 0
    masks = [np.array(Image.open(tmp_path / b / "a_mask.png")) for b in ("pytorch", "onnxruntime")]
    assert (masks[0] == masks[1]).mean() >= 0.999
