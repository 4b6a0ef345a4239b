"""The ``he2016_cifar`` recipe (He et al. 2016, Sec. 4.2): its schedule changes the lr at
exactly 32k and 48k updates, its augmentation is pad-4-and-crop plus flip, explicit flags win
over it, and a run with it stops after exactly ``train_steps`` updates (also when resumed).
"""

from __future__ import annotations

import csv
import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2

import train
import zoo
from train import TrainConfig
from train.__main__ import config_from_args, main
from train.build import build_loaders, create_optimizer, create_scheduler
from train.data import build_data
from train.outputs import load_checkpoint
from train.recipes import RECIPES, apply_recipe
from train.transforms import classification_transforms

CFG = {"mean": (0.4914, 0.4822, 0.4465), "std": (0.247, 0.2435, 0.2616), "crop_pct": 1.0}
BASE = ["--model", "resnet20_cifar", "--data", "digits"]


def _lrs(optimizer: torch.optim.Optimizer) -> set[float]:
    return {group["lr"] for group in optimizer.param_groups}


def _optimizer_and_scheduler(config: TrainConfig, updates_per_epoch: int):
    """The optimizer and schedule of a run, built as ``train.loop.prepare_run`` builds them."""
    optimizer = create_optimizer(config, nn.Linear(4, 2))
    return optimizer, create_scheduler(config, optimizer, updates_per_epoch)


@pytest.mark.parametrize("per_epoch", [391, 7, 1])
def test_lr_divided_by_10_after_exactly_32k_and_48k_updates(per_epoch):
    config = TrainConfig.from_recipe("he2016_cifar", model="resnet20_cifar", data="digits")
    optimizer, scheduler = _optimizer_and_scheduler(config, per_epoch)
    assert len(optimizer.param_groups) == 2  # weights decay, biases do not (timm)
    assert _lrs(optimizer) == {0.1}
    expected = {1: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    seen = {}
    for update in range(1, config.train_steps + 1):  # as train.loop does
        scheduler.step_update(num_updates=update)
        if update % per_epoch == 0:
            scheduler.step(update // per_epoch)  # the epoch step must not disturb it
        if update in expected:
            (seen[update],) = _lrs(optimizer)
    assert seen == pytest.approx(expected, rel=1e-12)
    assert config.run_epochs(per_epoch) == math.ceil(64_000 / per_epoch)


def test_cosine_spans_train_steps():
    config = TrainConfig(model="m", data="d", lr=0.1, train_steps=100)
    optimizer, scheduler = _optimizer_and_scheduler(config, 7)
    lrs = {}
    for update in (50, 100):
        scheduler.step_update(num_updates=update)
        (lrs[update],) = _lrs(optimizer)
    assert lrs[50] == pytest.approx(0.05, rel=1e-6) and lrs[100] == pytest.approx(0.0, abs=1e-9)


def _pattern() -> tv_tensors.Image:
    """32×32: channel 0 holds row + 1, channel 1 column + 1, channel 2 noise (no zeros)."""
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    noise = torch.randint(1, 256, (32, 32), generator=torch.Generator().manual_seed(0))
    return tv_tensors.Image(torch.stack([rows + 1, cols + 1, noise]).to(torch.uint8))


def _pixels(normalised: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(CFG["mean"])[:, None, None], torch.tensor(CFG["std"])[:, None, None]
    return (normalised * std + mean).mul(255).round().to(torch.uint8)


def test_pad_crop_takes_a_window_of_the_zero_padded_image():
    image = _pattern()
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))  # (3, 40, 40), zeros
    keys = [(dy, dx, flip) for dy in range(-4, 5) for dx in range(-4, 5) for flip in (0, 1)]
    windows = torch.stack([padded[:, 4 + dy : 36 + dy, 4 + dx : 36 + dx].flip(-1) if flip else
                           padded[:, 4 + dy : 36 + dy, 4 + dx : 36 + dx]
                           for dy, dx, flip in keys])  # fmt: skip
    transform = classification_transforms(CFG, 32, True, hflip=0.5, pad_crop=4)
    torch.manual_seed(0)
    draws = []
    for _ in range(200):
        out = transform(image)
        assert out.shape == (3, 32, 32) and out.dtype == torch.float32
        matches = (windows == _pixels(out)).flatten(1).all(1).nonzero().flatten().tolist()
        assert len(matches) == 1
        draws.append(keys[matches[0]])
    offsets = {(dy, dx) for dy, dx, _ in draws}
    assert len(offsets) >= 40
    assert {dy for dy, _ in offsets} == {dx for _, dx in offsets} == set(range(-4, 5))
    assert 60 <= sum(flip for *_, flip in draws) <= 140


def test_pad_crop_resizes_small_images_and_eval_is_unchanged():
    train_tf = classification_transforms(CFG, 32, True, hflip=0.5, pad_crop=4)
    digit = tv_tensors.Image(torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8))
    assert train_tf(digit).shape == (3, 32, 32)
    image = _pattern()
    eval_tf = classification_transforms(CFG, 32, False)
    assert torch.equal(_pixels(eval_tf(image)), image)


def test_pad_crop_is_for_classification_only():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pretrained_cfg = {**CFG, "input_size": (3, 64, 64)}

    config = TrainConfig(model="m", data="digits", pad_crop=4)
    with pytest.raises(zoo.ConfigError, match="pad_crop 4 is a classification augmentation"):
        build_loaders(config, build_data("digits", "segmentation"), Model())


def test_recipe_settings_are_trainconfig_fields():
    names = set(TrainConfig.__dataclass_fields__)
    for recipe in RECIPES.values():
        assert set(recipe.settings) <= names
        assert recipe.description and "%" not in recipe.description  # argparse help
    assert apply_recipe("he2016_cifar", {"lr": 0.05})["lr"] == 0.05


def test_cli_recipe_with_an_explicit_lr():
    config = config_from_args([*BASE, "--recipe", "he2016_cifar", "--lr", "0.05"])
    assert (config.lr, config.batch_size, config.momentum, config.weight_decay) == (
        0.05,
        128,
        0.9,
        1e-4,
    )
    assert (config.opt, config.sched, config.train_steps) == ("momentum", "multistep", 64_000)
    assert (config.decay_milestones, config.pad_crop, config.hflip) == ((32_000, 48_000), 4, 0.5)
    assert config.image_size == 32 and config.scale is None


def test_explicit_flags_win_even_when_equal_to_the_default():
    argv = [*BASE, "--recipe", "he2016_cifar", "--batch-size", "16", "--sched", "cosine"]
    with pytest.raises(zoo.ConfigError, match="decay_milestones are for sched multistep"):
        config_from_args(argv)  # the recipe's milestones need its multistep schedule
    config = config_from_args([*argv[:-2], "--train-steps", "100", "--decay-milestones", "50"])
    assert (config.batch_size, config.train_steps, config.decay_milestones) == (16, 100, (50,))
    assert config_from_args([*BASE, "--recipe", "he2016_cifar"]).batch_size == 128


def test_notebook_and_cli_build_the_same_config():
    argv = [*BASE, "--recipe", "he2016_cifar", "--batch-size", "16", "--output", "runs/r20"]
    cli = config_from_args(argv)
    notebook = TrainConfig.from_recipe(
        "he2016_cifar", model="resnet20_cifar", data="digits", batch_size=16, output="runs/r20"
    )
    assert cli == notebook
    assert TrainConfig(**notebook.to_dict()) == notebook  # as a checkpoint's config reloads
    # a plain constructor cannot tell batch_size=16 from no batch_size: the recipe's 128
    assert TrainConfig(model="m", data="d", recipe="he2016_cifar", batch_size=16).batch_size == 128
    assert TrainConfig(model="m", data="d", recipe="he2016_cifar", lr=0.05).lr == 0.05


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recipe", "nope"], "unknown recipe 'nope'; known recipes: he2016_cifar"),
        (["--recipe", "he2016_cifar", "--epochs", "5"], "both set the run's length"),
        (["--sched", "multistep"], "sched multistep needs decay_milestones"),
        (["--sched", "multistep", "--decay-milestones", "5", "5"], "strictly increasing"),
        (["--train-steps", "0"], "train_steps must be at least 1"),
        (["--recipe", "he2016_cifar", "--scale", "0.5", "1"], "no effect with pad_crop 4"),
    ],
)
def test_bad_recipe_settings_exit_2_with_one_line(tmp_path, capsys, extra, message):
    output = tmp_path / "run"
    assert main([*BASE, *extra, "--output", str(output), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not output.exists()


def test_help_lists_the_recipes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--recipe" in out and "he2016_cifar (He et al. 2016 CIFAR-10" in out


def _lr_column(output) -> list[float]:
    with open(output / "metrics.csv") as handle:
        return [float(row["lr"]) for row in csv.DictReader(handle)]


def test_run_stops_after_exactly_train_steps_also_when_resumed(tmp_path):
    settings = dict(model="resnet20_cifar", data="digits", output=str(tmp_path), batch_size=32,
                    decay_milestones=(3, 4), max_steps_per_epoch=3, eval_batch_size=400,
                    progress=False)  # fmt: skip
    result = train.fit(TrainConfig.from_recipe("he2016_cifar", train_steps=3, **settings))
    state = load_checkpoint(tmp_path)
    assert (state["num_updates"], state["epoch"], len(result.history)) == (3, 0, 1)
    assert state["config"]["pad_crop"] == 4 and state["config"]["opt"] == "momentum"
    # resumed with 5 updates in all: ceil(5 / 3) = 2 epochs, the second one of 2 updates
    longer = TrainConfig.from_recipe("he2016_cifar", train_steps=5, resume=str(tmp_path),
                                     **settings)  # fmt: skip
    train.fit(longer)
    state = load_checkpoint(tmp_path)
    assert (state["num_updates"], state["epoch"]) == (5, 1)
    assert _lr_column(tmp_path) == pytest.approx([0.01, 0.001])  # after 3, then 5 updates
    # resumed once more with nothing left: no epoch runs
    assert len(train.fit(longer).history) == 2 and load_checkpoint(tmp_path)["num_updates"] == 5


def _fake_cifar10(root) -> None:
    """A tiny cifar-10-batches-py (noise images) in torchvision's pickle layout."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name, count in [*((f"data_batch_{b}", 8) for b in range(1, 6)), ("test_batch", 8)]:
        batch = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, count)]}  # fmt: skip
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]  # fmt: skip
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))


def test_the_one_command_on_a_cifar10_layout(tmp_path, monkeypatch, capsys):
    from torchvision.datasets import CIFAR10

    _fake_cifar10(tmp_path)
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)  # stand-in files
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": None})
    output = tmp_path / "runs" / "r20"
    argv = ["--recipe", "he2016_cifar", "--model", "resnet20_cifar", "--data",
            f"cifar10:{tmp_path}", "--output", str(output), "--batch-size", "8",
            "--train-steps", "3", "--decay-milestones", "1", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    state = load_checkpoint(output)
    assert (state["num_updates"], state["epoch"]) == (3, 0)  # 5 batches per epoch, 3 taken
    assert _lr_column(output) == pytest.approx([0.001])
    assert (output / "best" / "config.json").is_file()


def test_pad_crop_reaches_the_training_loader(tmp_path):
    from train.loop import prepare_run

    config = TrainConfig.from_recipe("he2016_cifar", model="resnet20_cifar", data="digits",
                                     output=str(tmp_path), progress=False)  # fmt: skip
    run = prepare_run(config)
    steps = run.train_loader.dataset.transform.transforms
    crops = [t for t in steps if isinstance(t, v2.RandomCrop)]
    assert len(crops) == 1 and list(crops[0].padding) == [4, 4, 4, 4]
    assert not any(isinstance(t, v2.RandomResizedCrop) for t in steps)
    assert run.epochs == math.ceil(64_000 / len(run.train_loader))  # 1438 images, 11 batches
    assert run.scheduler.decay_t == pytest.approx([32_000.5, 48_000.5])
    run.accelerator.end_training()
