"""Acceptance on real data (scikit-learn's handwritten digits), CPU only.

- resnet20_cifar reaches ≥ 95 % validation accuracy on the digits in a few epochs;
- DeepLabV3+ reaches mIoU ≥ 0.80 on digits placed on a canvas (all-background ≈ 0.08);
- a run killed after an epoch and resumed ends with the same metrics as an uninterrupted one;
- the exported best model reloads with local-dir: and reproduces its validation metric;
- the best model pushes to the (local) Hub with its metrics in the model card;
- the fine-tuned digits model loses at most half a top-1 point in int8;
- a segmenter with neither backbone nor auxiliary head (mediapipe_selfie) fine-tunes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train
import zoo
from train import TrainConfig
from train.outputs import load_checkpoint
from train.validate import validate

ROOT = Path(__file__).resolve().parents[2]
DIGITS = dict(
    model="resnet20_cifar",
    data="digits",
    batch_size=32,
    lr=0.1,
    weight_decay=5e-4,
    hflip=0.0,
    scale=(0.6, 1.0),
    progress=False,
)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("digits")
    return train.fit(TrainConfig(**DIGITS, epochs=4, output=str(output)))


@pytest.mark.slow
def test_cifar_resnet_learns_digits(digits_run):
    assert digits_run.best_metric == "top1"
    assert digits_run.best_value >= 0.95
    assert len(digits_run.history) == 4
    with open(digits_run.output / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert float(rows[digits_run.best_epoch]["top1"]) == pytest.approx(digits_run.best_value)


@pytest.mark.slow
def test_exported_best_model_reproduces_its_metric(digits_run):
    config = json.loads((digits_run.best_dir / "config.json").read_text())
    assert config["metrics"]["top1"] == pytest.approx(100 * digits_run.best_value)  # percent
    assert config["id2label"]["7"] == "7" and config["dataset"] == "digits"
    model = zoo.create_model(f"local-dir:{digits_run.best_dir}")
    assert tuple(model.pretrained_cfg["input_size"]) == (3, 32, 32)
    metrics = validate(f"local-dir:{digits_run.best_dir}", "digits", device="cpu")
    assert metrics["top1"] == pytest.approx(100 * digits_run.best_value, abs=1e-7)  # percent


@pytest.mark.slow
def test_int8_costs_at_most_half_a_top1_point_on_digits(digits_run, tmp_path):
    """int8's accuracy cost measured on real labels (issue 26): the fine-tuned model, calibrated
    on 64 training images, scored on the validation split through the pipeline."""
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from train.digits import digits

    def pil(sample) -> Image.Image:
        return Image.fromarray(sample[0].permute(1, 2, 0).numpy())

    def top1(path) -> float:
        top = zoo.classify(zoo.ORTModel(path), images, top_k=1, batch_size=64)
        return (
            100.0 * sum(t[0][0] == str(y) for t, y in zip(top, labels, strict=True)) / len(labels)
        )

    model = zoo.create_model(f"local-dir:{digits_run.best_dir}")
    splits = digits("classification")
    calibration = [pil(splits.train[i]) for i in range(64)]
    val = [splits.val[i] for i in range(len(splits.val))]
    images, labels = [pil(s) for s in val], [int(s[1]) for s in val]
    zoo.export(model, tmp_path / "fp32.onnx")
    report = zoo.export(model, tmp_path / "int8.onnx", quantize="int8", calibration=calibration)
    assert report.quantization["calibration"] == "64 images given"
    fp32, int8 = top1(tmp_path / "fp32.onnx"), top1(tmp_path / "int8.onnx")
    print(f"digits val ({len(labels)} images): fp32 {fp32:.2f} %, int8 {int8:.2f} %")
    assert fp32 >= 90.0  # a trained model, or the comparison says nothing
    assert fp32 - int8 <= 0.5


def test_a_segmenter_without_backbone_or_aux_head_fine_tunes(tmp_path):
    """mediapipe_selfie has neither a ``pretrained_backbone`` argument nor ``forward_with_aux``:
    it trains on the digit canvases all the same, and its best model reloads."""
    result = train.fit(TrainConfig(model="mediapipe_selfie", data="digits", epochs=1,
                                   batch_size=8, max_steps_per_epoch=2, progress=False,
                                   model_kwargs={"native_size": (64, 64)},
                                   output=str(tmp_path)))  # fmt: skip
    saved = zoo.create_model(f"local-dir:{result.best_dir}")
    assert zoo.get_labels(saved)[0] == "background" and len(zoo.get_labels(saved)) == 11
    assert 0.0 <= result.best_value <= 1.0


def test_the_auxiliary_loss_counts_in_training_only():
    """TrainStep adds ``aux_weight × CE(aux)`` for a model with an auxiliary head in training,
    and plain CE in eval mode (and for models without one)."""
    import torch.nn.functional as F

    from train.loop import TrainStep

    torch.manual_seed(0)
    model = zoo.create_model("fcn", backbone="test_resnet", num_classes=3, aux_head=True)
    images, targets = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    step = TrainStep(model, "segmentation").train()
    torch.manual_seed(1)  # the same dropout masks in both forwards
    _, loss = step(images, targets)
    torch.manual_seed(1)
    logits, aux = model.forward_with_aux(images, aux=True)
    expected = F.cross_entropy(logits, targets) + model.aux_weight * F.cross_entropy(aux, targets)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(loss) > float(F.cross_entropy(logits, targets)) + 1e-3
    step.eval()
    with torch.no_grad():
        _, plain = step(images, targets)
        assert float(plain) == pytest.approx(float(F.cross_entropy(model(images), targets)))


@pytest.mark.slow
def test_push_best_model_to_hub(digits_run, hub_server, fresh_cache):
    from huggingface_hub import hf_hub_download

    from train.outputs import push_best

    url = push_best(digits_run.best_dir, "me/digits-resnet20")
    assert "/me/digits-resnet20/commit/" in url
    with open(hf_hub_download("me/digits-resnet20", "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    assert f"value: {100 * digits_run.best_value}" in card and "- digits" in card
    assert "| top1 |" in card
    restored = zoo.create_model("hf-hub:me/digits-resnet20", pretrained=True)
    assert zoo.get_labels(restored) == [str(d) for d in range(10)]


def test_failed_push_keeps_the_run_and_says_how_to_retry(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    from tests.conftest import free_port
    from zoo import hub

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    hub._probe_cache.clear()
    result = train.fit(
        TrainConfig(
            **DIGITS,
            epochs=1,
            max_steps_per_epoch=3,
            output=str(tmp_path),
            push_to_hub="me/unreachable",
        )
    )
    assert result.push_error and "HubUnreachableError" in result.push_error
    assert (tmp_path / "best" / "model.safetensors").is_file() and (tmp_path / "last.pt").is_file()
    assert f"python -m train.push {tmp_path / 'best'} me/unreachable" in capsys.readouterr().out


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "train", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    flags = [
        "--model",
        "resnet20_cifar",
        "--data",
        "digits",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr",
        "0.1",
        "--weight-decay",
        "5e-4",
        "--hflip",
        "0",
        "--scale",
        "0.6",
        "1.0",
        "--max-steps-per-epoch",
        "12",
        "--no-progress",
    ]
    reference = train.fit(
        TrainConfig(
            **{**DIGITS, "epochs": 3, "max_steps_per_epoch": 12}, output=str(tmp_path / "straight")
        )
    )
    run = tmp_path / "killed"
    process = _cli(*flags, "--output", str(run))
    deadline = time.monotonic() + 300
    while not (run / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # right after epoch 0's checkpoint, in the middle of epoch 1
    assert process.wait() != 0, "the run finished before it could be interrupted"
    assert load_checkpoint(run)["epoch"] < 2
    resumed = _cli(*flags, "--output", str(run), "--resume", str(run))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "Resumed from" in out
    final = load_checkpoint(run)["history"]
    assert len(final) == 3
    for got, want in zip(final, reference.history, strict=True):
        assert got["train_loss"] == pytest.approx(want["train_loss"], abs=1e-6)
        assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-6)
        assert got["top1"] == want["top1"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    train.fit(TrainConfig(**DIGITS, epochs=1, max_steps_per_epoch=2, output=str(tmp_path)))
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(zoo.CheckpointError, match="truncated or corrupt"):
        train.fit(TrainConfig(**DIGITS, epochs=2, output=str(tmp_path), resume=str(tmp_path)))
    assert not list(tmp_path.glob(".last.pt.vzoo-*"))  # no temporary files left by the writes


def test_cli_reports_bad_data_with_the_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.png")
    process = _cli(
        "--model",
        "fcn_tf_efficientnet_lite0",
        "--data",
        f"masks:{tmp_path}",
        "--num-classes",
        "2",
        "--no-progress",
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "data error" in err and "a.png has no mask" in err


def test_ema_bf16_accumulation_and_channels_last_run(tmp_path, capsys):
    """The optional engine paths run end to end on CPU (GPU-only speed-ups are benchmarked);
    bf16 asked for on a CPU runs, with one warning line."""
    result = train.fit(
        TrainConfig(
            model="deeplabv3plus",
            data="digits",
            output=str(tmp_path),
            epochs=1,
            batch_size=8,
            model_kwargs={"backbone": "test_resnet", "decoder_channels": 16},
            image_size=64,
            max_steps_per_epoch=3,
            grad_accum=2,
            amp="bf16",
            ema=True,
            ema_decay=0.9,
            channels_last=True,
            clip_grad=1.0,
            sched="poly",
            warmup_epochs=0,
            progress=False,
        )
    )
    state = load_checkpoint(tmp_path)
    assert state["num_updates"] == 3 and state["ema"] is not None
    with open(tmp_path / "confusion_matrix.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == ["background"] + [str(d) for d in range(10)] and len(rows) == 12
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 200 * 64 * 64  # every val pixel
    assert 0.0 <= result.best_value <= 1.0
    assert "confusion_matrix" not in state["history"][0]  # in its CSV, not in every epoch
    assert capsys.readouterr().err.count("warning: --amp bf16 on a CPU") == 1


@pytest.mark.slow
def test_two_process_ddp_metrics_match_a_single_process(tmp_path):
    """accelerate launch with 2 CPU processes (gloo): the validation set (359 images) splits
    unevenly, and the gathered metrics must equal a single-process evaluation."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes",
               "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "train", "--model", "resnet20_cifar", "--data", "digits", "--epochs", "1",
               "--batch-size", "32", "--lr", "0.1", "--hflip", "0", "--max-steps-per-epoch", "8",
               "--output", str(tmp_path), "--no-progress"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best top1") == 1
    reported = load_checkpoint(tmp_path)["history"][0]
    single = validate(f"local-dir:{tmp_path / 'best'}", "digits", device="cpu")
    assert 100 * reported["top1"] == pytest.approx(single["top1"], abs=1e-7)  # percent
    assert reported["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
