"""``python -m train.validate --model A --model B ...``: one table and one plot for several
models on the same split, each evaluated as alone; a model that cannot load gets its row and
exit 2; models of two tasks are one line and exit 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.train.layouts import cityscapes_frame
from tests.train.test_validate import _constant_model
from train import evaluation
from train.eval_data import SharedSamples
from train.evaluation import ForwardTimer
from train.validate import main, validate

LIMIT = 24  # digits' first 24 validation images: seconds for both models


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """Two CIFAR ResNets (random weights, 0.27 M and 0.46 M parameters) saved for digits."""
    names = []
    for arch in ("resnet20_cifar", "resnet32_cifar"):
        torch.manual_seed(0)
        model = zoo.create_model(arch, num_classes=10)
        directory = tmp_path_factory.mktemp(arch)
        zoo.save_pretrained(model, directory, labels=[str(d) for d in range(10)],
                            input_size=(3, 32, 32))  # fmt: skip
        names.append(f"local-dir:{directory}")
    return names


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--device", "cpu", "--workers", "0"])
    out, err = capsys.readouterr()
    return code, out, err


def _row(out: str, name: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_two_classifiers_one_table_one_plot(classifiers, tmp_path, capsys):
    png, out_file = tmp_path / "compare.png", tmp_path / "compare.json"
    first, second = classifiers
    code, out, err = _run(capsys, "--model", first, "--model", second, "--data", "digits",
                          "--limit", str(LIMIT), "--plot", str(png), "--out",
                          str(out_file))  # fmt: skip
    assert code == 0 and err == "", err
    assert _row(out, "model")[1:] == ["params (M)", "top-1", "top-5", "ms/image", "images"]
    assert "decoded once for all models" in out and "batches of 32 on cpu" in out
    results = json.loads(out_file.read_text())
    assert [r["model"] for r in results] == classifiers
    for result, params in zip(results, ("0.27", "0.46"), strict=True):
        alone = validate(result["model"], "digits", device="cpu", limit=LIMIT)
        assert result["top1"] == pytest.approx(alone["top1"])  # the same evaluation
        assert result["top5"] == pytest.approx(alone["top5"])
        assert result["latency_ms"] > 0 and result["images"] == LIMIT
        row = _row(out, result["model"])
        assert row[1:] == [params, f"{alone['top1']:.2f}", f"{alone['top5']:.2f}",
                           f"{result['latency_ms']:.2f}", str(LIMIT)]  # fmt: skip
    with Image.open(png) as image:  # whole: decodes to the end
        image.load()
        assert image.format == "PNG" and image.size == (640, 480)
    assert {p.name for p in tmp_path.iterdir()} == {"compare.json", "compare.png"}  # no temporary


def test_a_model_that_cannot_load_gets_its_row_and_exit_2(classifiers, tmp_path, capsys):
    png = tmp_path / "compare.png"
    code, out, err = _run(capsys, "--model", classifiers[0], "--model", "resnet56_cifar",
                          "--model", "resnet2_cifar", "--data", "digits", "--limit", "8",
                          "--plot", str(png))  # fmt: skip
    assert code == 2
    assert _row(out, classifiers[0])[-1] == "8"  # the good model still ran
    no_weights, unknown = _row(out, "resnet56_cifar"), _row(out, "resnet2_cifar")
    assert len(no_weights) == 2 and "has no pretrained weights" in no_weights[1]
    assert len(unknown) == 2 and "Unknown model 'resnet2_cifar'" in unknown[1]
    assert len(err.strip().splitlines()) == 2 and err.startswith("resnet56_cifar: error: ")
    with Image.open(png) as image:
        image.load()


def test_two_segmentation_models_share_the_decoded_frames(tmp_path, capsys):
    for index in range(2):
        label = np.full((8, 16), 7)  # road (label id 7) everywhere
        cityscapes_frame(tmp_path / "data", "val", "ulm", index, label, kind="labelIds")
    names = [_constant_model(tmp_path / name) for name in ("one", "two")]
    code, out, err = _run(capsys, "--model", names[0], "--model", names[1], "--data",
                          f"cityscapes:{tmp_path / 'data'}")  # fmt: skip
    assert code == 0, err
    assert _row(out, "model")[1:] == ["params (M)", "mIoU", "mAcc", "aAcc", "ms/image", "images"]
    assert "(val, whole)" in out and "decoded once for all models" in out
    for name in names:  # road predicted everywhere, all road: 100 %
        assert _row(out, name)[2:5] == ["100.00", "100.00", "100.00"]


def test_models_of_two_tasks_are_one_line_and_exit_2(classifiers, capsys):
    code, out, err = _run(capsys, "--model", classifiers[0], "--model", "mediapipe_selfie",
                          "--data", "digits")  # fmt: skip
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert re.search(r"compare models of one task; got .*\(classification\), mediapipe_selfie "
                     r"\(segmentation\)", err)  # fmt: skip


@pytest.mark.parametrize(
    ("more", "pattern"),
    [
        (["--checkpoint", "w.pth"], r"--checkpoint is for one --model"),
        (["--confusion-matrix", "c.png"], r"--confusion-matrix is for one --model"),
        (["--limit", "0"], r"--limit must be a positive integer"),
    ],
)
def test_options_for_one_model_or_none_are_one_line(classifiers, capsys, more, pattern):
    code, out, err = _run(capsys, "--model", classifiers[0], "--model", classifiers[1],
                          "--data", "digits", *more)  # fmt: skip
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert re.search(pattern, err), err


# -- the pieces -------------------------------------------------------------------------------
def test_shared_samples_are_decoded_once_and_bounded():
    class Counted(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.reads = 0

        def __len__(self) -> int:
            return 3

        def __getitem__(self, index: int):
            self.reads += 1
            return Image.new("RGB", (10, 10)), index  # 300 bytes of pixels

    data, shared = Counted(), SharedSamples(max_bytes=900)
    first = shared.samples(data)
    second = shared.samples(Counted())
    assert shared.shared and [first[i][1] for i in range(3)] == [0, 1, 2]
    assert all(first[i][0] is second[i][0] for i in range(3))  # the same decoded images
    assert data.reads == 4  # the first sample twice (the size estimate), then once each
    too_big = SharedSamples(max_bytes=899)
    original = Counted()
    assert too_big.samples(original) is original and not too_big.shared


def test_forward_timer_counts_the_forward_pass_per_image(monkeypatch):
    clock = iter([0.0, 0.4, 1.0, 1.2, 2.0, 2.6, 3.0, 3.1])  # seconds: 0.4, 0.2, 0.6, 0.1 per call
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: next(clock))
    model = torch.nn.Linear(2, 2)
    with ForwardTimer(model) as timer:
        for batch in (1, 2, 2, 1):
            model(torch.zeros(batch, 2))
    assert timer.per_image_ms == pytest.approx([400.0, 100.0, 300.0, 100.0])
    assert timer.median_ms() == pytest.approx(100.0)  # the first, cold call left out
    model(torch.zeros(1, 2))  # hooks removed on exit
    assert len(timer.per_image_ms) == 4
    assert ForwardTimer(model, enabled=False).median_ms() is None
