"""The ONNX Runtime backend gives the PyTorch backend's answers, through the same API."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import zoo
from zoo import runtime

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(autouse=True)
def export_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "onnx-cache"))
    return tmp_path / "onnx-cache"


@pytest.fixture(scope="module")
def selfie():
    return zoo.create_model("mediapipe_selfie.general_256", pretrained=True).eval()


def test_top1_is_identical_on_every_example_photo(lite0, photos):
    session = runtime.with_backend(lite0, "onnxruntime")
    assert isinstance(session, zoo.ORTModel)
    for name, path in photos.items():
        ours = zoo.classify(lite0, path, top_k=3)
        theirs = zoo.classify(lite0, path, top_k=3, backend="onnxruntime")
        assert [label for label, _ in theirs][:1] == [label for label, _ in ours][:1], name
        for (_, p), (_, q) in zip(ours, theirs, strict=True):
            assert abs(p - q) < 1e-4, name


def test_masks_agree_on_every_example_photo(selfie, photos):
    for name, path in photos.items():
        ours = zoo.segment(selfie, path)
        theirs = zoo.segment(selfie, path, backend="onnxruntime")
        assert theirs.labels == ours.labels and theirs.palette == ours.palette
        agreement = (ours.mask == theirs.mask).mean()
        assert agreement >= 0.999, f"{name}: {agreement:.5f}"


def test_slide_and_tta_run_on_the_session(tmp_path):
    model = zoo.create_model("fcn", backbone="resnet18", num_classes=4).eval()
    image = np.random.default_rng(0).integers(0, 255, (150, 230, 3), dtype=np.uint8)
    kwargs = dict(mode="slide", crop=(64, 64), tta="flip", return_probs=True)
    ours = zoo.segment(model, image, **kwargs)
    theirs = zoo.segment(model, image, backend="onnxruntime", **kwargs)
    assert ours.mode == theirs.mode == "slide"
    assert (ours.probs - theirs.probs).abs().max() < 1e-4


def test_export_is_cached_and_reused(export_cache):
    selfie = zoo.create_model("mediapipe_selfie.general_256", pretrained=True).eval()
    first = runtime.with_backend(selfie, "onnxruntime")
    files = sorted(export_cache.glob("*.onnx"))
    assert [f.name.split("-")[0] for f in files] == ["mediapipe_selfie.general_256"]
    assert runtime.with_backend(selfie, "onnxruntime") is first  # same process: same session
    stamp = files[0].stat().st_mtime_ns
    copy = zoo.create_model("mediapipe_selfie.general_256", pretrained=True)
    assert runtime.cached_export(copy) == files[0]  # same weights: same file, not re-exported
    assert files[0].stat().st_mtime_ns == stamp
    with torch.no_grad():
        copy.classifier.bias.add_(1.0)
    assert runtime.cached_export(copy) != files[0]  # changed weights: a new export


def test_auto_measures_once_and_remembers(selfie, export_cache):
    choice = runtime.fastest_backend(selfie, repeats=1)
    assert choice in ("pytorch", "onnxruntime", "openvino")
    (record,) = export_cache.glob("*.json")
    saved = json.loads(record.read_text())
    assert saved["backend"] == choice
    # the selfie model resizes inside its graph: timed on a 640×480 photo, not on its 256² input
    assert saved["input_size"] == [3, 480, 640] == list(runtime.timing_input_size(selfie))
    assert runtime.fastest_backend(selfie) == choice  # read back, not measured again
    model = runtime.with_backend(selfie, "auto")
    assert isinstance(model, runtime.ORTModel) == (choice != "pytorch")  # OVModel is one too
    assert getattr(model, "backend", "pytorch") == choice


def test_video_runs_on_onnxruntime(selfie, tmp_path):
    pytest.importorskip("av")
    from demo.examples import example_clip

    clip = example_clip(tmp_path)
    assert clip is not None
    ours = zoo.segment_video(selfie, clip, progress=False, max_seconds=0.5)
    theirs = zoo.segment_video(selfie, clip, progress=False, max_seconds=0.5, backend="onnxruntime")
    assert len(ours.class_shares) == len(theirs.class_shares) > 0
    for a, b in zip(ours.class_shares, theirs.class_shares, strict=True):
        assert abs(a["person"] - b["person"]) < 1e-3


def test_bad_backend_and_missing_extra(selfie, monkeypatch):
    with pytest.raises(zoo.ConfigError, match="backend must be one of"):
        zoo.segment(selfie, np.zeros((32, 32, 3), np.uint8), backend="tensorrt")
    session = runtime.with_backend(selfie, "onnxruntime")
    with pytest.raises(zoo.ConfigError, match="cannot run on PyTorch"):
        runtime.with_backend(session, "pytorch")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    other = zoo.create_model("resnet20_cifar")
    with pytest.raises(zoo.MissingExtraError, match=r"vision-zoo\[onnx\]"):
        zoo.classify(other, np.zeros((32, 32, 3), np.uint8), backend="onnxruntime")
    assert runtime.fastest_backend(other) == "pytorch"


def test_timing_size_follows_the_test_resize():
    classifier = zoo.create_model("resnet20_cifar")
    assert runtime.timing_input_size(classifier) == (3, 32, 32)  # its crop
    segmenter = zoo.create_model("deeplabv3plus_resnet50", pretrained=False)
    # a model that resizes the short side to its input size is timed at what a photo becomes
    height, width = runtime.timing_input_size(segmenter)[1:]
    assert (height, width) == (512, 683)
