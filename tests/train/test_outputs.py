"""What a run writes: atomic, readable by others (the user's umask), cleaned after a kill."""

from __future__ import annotations

import os

import torch

import zoo
from train.outputs import (
    export_best,
    load_checkpoint,
    save_checkpoint,
    write_confusion_matrix,
    write_csv,
)


def test_every_writer_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint({"model": {}, "epoch": 0}, tmp_path / "last.pt")
        write_csv([{"epoch": 0, "top1": 0.5}], tmp_path / "metrics.csv")
        write_confusion_matrix([[1, 0], [0, 1]], ["a", "b"], tmp_path / "confusion_matrix.csv")
        model = zoo.create_model("resnet20_cifar", num_classes=2)
        export_best(model, tmp_path / "best", ["a", "b"], None, "toy", {"top1": 0.5}, 32)
    finally:
        os.umask(old)
    files = ["last.pt", "metrics.csv", "confusion_matrix.csv", "best/model.safetensors",
             "best/config.json"]  # fmt: skip
    for name in files:
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert (tmp_path / "best").stat().st_mode & 0o777 == 0o755
    assert not [p for p in tmp_path.iterdir() if ".vzoo-" in p.name]
    assert load_checkpoint(tmp_path)["epoch"] == 0


def test_best_model_is_swapped_in_whole(tmp_path):
    model = zoo.create_model("resnet20_cifar", num_classes=2)
    export_best(model, tmp_path / "best", ["a", "b"], None, "toy", {"top1": 0.5}, 32)
    (tmp_path / "best" / "stale.txt").write_text("from an older epoch")
    torch.nn.init.zeros_(model.fc.weight)
    export_best(model, tmp_path / "best", ["a", "b"], None, "toy", {"top1": 0.7}, 32)
    assert not (tmp_path / "best" / "stale.txt").exists()
    info = zoo.model_info(f"local-dir:{tmp_path / 'best'}")
    assert info.metrics["top1"] == 70.0 and info.labels == ["a", "b"] and info.dataset == "toy"
    reloaded = zoo.create_model(f"local-dir:{tmp_path / 'best'}")
    assert reloaded.fc.weight.abs().sum() == 0
