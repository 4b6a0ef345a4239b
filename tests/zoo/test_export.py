"""ONNX export: every registered architecture runs in ONNX Runtime as it runs in PyTorch.

Each architecture is exported with a dynamic batch, height and width and compared at two
input sizes (the second odd, so every stride sees odd feature maps). BatchNorm statistics are
calibrated on random images first: with timm's default statistics (mean 0, variance 1) deep
random networks such as HRNet produce activations in the thousands, where float32 rounding
alone exceeds any absolute tolerance. The bound is max |Δ| ≤ 1e-4 · max(1, max |logit|).
One small variant per model file runs by default, every registered architecture with
``--runslow`` (CI) except the larger twins of covered ones (``tests/zoo/variants.py``), which
``--runheavy`` adds.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from timm.models import model_entrypoint

import zoo
from tests.zoo.variants import HEAVY, quick_variants, small_kwargs
from zoo.export import META_PREFIX, ExportError, read_metadata
from zoo.registry import zoo_architectures

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

#: Run by default (the rest with --runslow): one per model file.
QUICK = quick_variants()
SIZES = {"classification": [(32, 32), (45, 51)], "segmentation": [(64, 80), (97, 131)]}


def _cases() -> list:
    cases = []
    for name in zoo_architectures():
        marks = (
            (pytest.mark.heavy,) if name in HEAVY else () if name in QUICK else (pytest.mark.slow,)
        )
        cases.append(pytest.param(name, id=name, marks=marks))
    return cases


def calibrated(name: str) -> torch.nn.Module:
    """``name`` with random weights, 5 classes (segmentation) and BatchNorm statistics
    measured on random images of the test sizes."""
    torch.manual_seed(0)
    task = zoo.model_info(name).task
    kwargs = small_kwargs(name)
    if task == "segmentation" and name != "mediapipe_selfie":
        kwargs["num_classes"] = 5
    model = zoo.create_model(name, **kwargs)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    size = SIZES[task][1]
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, 3, *size))
    return model.eval()


@pytest.mark.parametrize("name", _cases())
def test_export_matches_pytorch_at_two_sizes(name, tmp_path):
    model = calibrated(name)
    task = zoo.model_info(name).task
    first, second = SIZES[task]
    report = zoo.export(model, tmp_path / "model.onnx", input_size=first)
    assert report.dynamic_axes == ("batch", "height", "width")
    session = zoo.ORTModel(report.path)
    for batch, size in ((1, first), (2, second)):
        x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = model(x)
        got = session(x)
        assert got.shape == expected.shape
        scale = max(1.0, float(expected.abs().max()))  # float32 rounding grows with it
        diff = float((got - expected).abs().max())
        assert diff <= 1e-4 * scale, f"{name} at {size}: max |Δ| {diff:.2e}, logits ±{scale:.1f}"


def test_metadata_carries_the_record(tmp_path):
    model = zoo.create_model("deeplabv3plus", backbone="resnet18", num_classes=19)
    model.pretrained_cfg = zoo.create_model(
        "deeplabv3plus_resnet50c.mmseg_cityscapes_512x1024", pretrained=False
    ).pretrained_cfg
    path = zoo.export(model, tmp_path / "m.onnx", input_size=(64, 128)).path
    proto = onnx.load(str(path))
    keys = {p.key for p in proto.metadata_props}
    assert {META_PREFIX + k for k in ("labels", "mean", "std", "palette", "test_resize")} <= keys
    metadata = read_metadata(proto)
    info = zoo.model_info("deeplabv3plus_resnet50c.mmseg_cityscapes_512x1024")
    assert metadata["labels"] == info.labels and metadata["task"] == "segmentation"
    assert metadata["palette"] == [list(c) for c in zoo.get_palette(model)]
    assert metadata["test_resize"]["size"] == [2048, 1024]
    session = zoo.ORTModel(path)
    assert zoo.get_labels(session) == info.labels
    assert zoo.get_palette(session) == zoo.get_palette(model)
    assert session.pretrained_cfg["mean"] == list(model.pretrained_cfg["mean"])


def test_classifier_with_fixed_size_keeps_only_batch_dynamic(tmp_path):
    """A ViT's position embeddings fix its input size: the export says so, and the session
    refuses other sizes with a message instead of a runtime crash."""
    model = zoo.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, num_classes=3)
    report = zoo.export(model.eval(), tmp_path / "vit.onnx", input_size=(32, 32))
    assert report.dynamic_axes == ("batch",)
    session = zoo.ORTModel(report.path)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert (session(x) - model(x)).abs().max() <= 1e-4
    with pytest.raises(zoo.ConfigError, match="32×32 inputs only"):
        session(torch.randn(1, 3, 48, 48))


def test_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(ExportError, match="unsupported operator"):
        zoo.export(zoo.create_model("resnet20_cifar"), path, force=True)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_bad_arguments_are_config_errors(tmp_path):
    model = zoo.create_model("resnet20_cifar")
    with pytest.raises(zoo.ConfigError, match="format"):
        zoo.export(model, tmp_path / "m.tflite", format="tflite")
    with pytest.raises(zoo.ConfigError, match="input_size"):
        zoo.export(model, tmp_path / "m.onnx", input_size=(3, 0, 32))
    with pytest.raises(zoo.UnknownModelError):
        zoo.export("no_such_model_xyz", tmp_path / "m.onnx")
    with pytest.raises(zoo.ConfigError, match=r"not written by zoo\.export"):
        plain = tmp_path / "plain.onnx"
        torch.onnx.export(model.eval(), (torch.zeros(1, 3, 32, 32),), str(plain), dynamo=False)
        zoo.ORTModel(plain)
    with pytest.raises(zoo.ConfigError, match="cannot load"):
        (tmp_path / "junk.onnx").write_bytes(b"not onnx")
        zoo.ORTModel(tmp_path / "junk.onnx")


def test_fp16_export_records_half_precision(tmp_path):
    report = zoo.export(zoo.create_model("resnet20_cifar"), tmp_path / "h.onnx", fp16=True)
    proto = onnx.load(str(report.path))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert read_metadata(proto)["dtype"] == "float16"


def test_export_by_name_loads_the_weights(tmp_path):
    """A name is exported with its pretrained weights (here the bundled person model)."""
    report = zoo.export("mediapipe_selfie.landscape_144x256", tmp_path / "p.onnx")
    session = zoo.ORTModel(report.path)
    model = zoo.create_model("mediapipe_selfie.landscape_144x256", pretrained=True).eval()
    x = torch.rand(1, 3, 144, 256)
    with torch.no_grad():
        got, expected = session(x), model(x)
    # real logits reach ±90 here: float32 agreement is relative to their scale
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert (got.softmax(1) - expected.softmax(1)).abs().max() <= 1e-5
    assert np.isfinite(report.max_abs_diff)


def test_every_model_file_has_a_quick_case():
    modules = {model_entrypoint(a).__module__ for a in zoo_architectures()}
    covered = {model_entrypoint(a).__module__ for a in QUICK}
    assert modules == covered


def test_missing_extra_and_unwritable_path_are_one_line_errors(tmp_path, monkeypatch, capsys):
    from zoo.__main__ import main

    model = zoo.create_model("resnet20_cifar")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="Cannot write"):
        zoo.export(model, blocker / "m.onnx")
    assert main(["export", "mediapipe_selfie", "--out", str(blocker / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Cannot write")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(zoo.MissingExtraError, match=r"vision-zoo\[onnx\]"):
        zoo.export(model, tmp_path / "m.onnx")
    assert main(["export", "mediapipe_selfie", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "vision-zoo[onnx]" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
