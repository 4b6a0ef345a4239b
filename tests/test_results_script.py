"""``benchmarks/results.py``: its statistics, the commands it records (they parse as the
trainer's own), the ablation's pairing, and a ``--quick`` run that regenerates the tables."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

import train.__main__ as train_cli
from tests.conftest import load_benchmark
from train.validate import parser as validate_parser

ROOT = Path(__file__).resolve().parents[1]
results = load_benchmark("results")


def test_paired_interval_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 → half-width 4.3027 / √3
    mean, half = results.paired_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert math.isnan(results.paired_interval([1.0])[1])
    assert results.mean_std([2.0, 4.0]) == (3.0, pytest.approx(math.sqrt(2)))


def test_every_recorded_command_is_one_the_trainer_accepts(tmp_path):
    budget = results.FULL
    for recipe in results.recipes(budget):
        args = results.train_command(recipe, 1, str(tmp_path / "run"), budget)
        parsed = vars(train_cli.parser().parse_args(args))
        assert parsed["model"] == recipe.model and parsed["data"] == recipe.data
        assert parsed["seed"] == 1
        for name, value in recipe.settings.items():
            got = dict(parsed[name]) if name == "model_kwargs" else parsed[name]
            same = tuple(got) == tuple(value) if isinstance(value, tuple) else got == value
            assert same, (name, got, value)
        checked = validate_parser().parse_args(
            results.validate_command(recipe, 1, "runs/x", budget)
        )
        assert checked.seed == 1  # validated on the split it was not trained on


def test_the_ablation_is_paired_by_seed_and_shares_runs_with_the_table(tmp_path):
    budget = results.FULL
    selected = results.recipes(budget)
    todo, by_key = results.plan(selected, budget, tmp_path)
    table_slstm = next(r for r in selected if r.suite == "segmentation" and r.model == "slstm")
    arm = next(r for r in selected if r.suite == "ablation" and r.data == "digits"
               and r.label.startswith("with "))  # fmt: skip
    assert table_slstm.key() == arm.key()  # one set of runs, seeds 0-2 in the table
    assert len(todo) == len({(r.recipe.key(), r.seed) for r in todo})
    per_suite = {"classification": 5 * 3, "segmentation": 6 * 3, "ablation": 4 * 5 - 3}
    assert len(todo) == sum(per_suite.values())
    # fake metrics: the LSTM adds 1, 2, 3, 4, 5 points on digits-hard, nothing on digits
    for run in todo:
        lstm = "scan" not in run.recipe.settings.get("model_kwargs", {})
        gain = (run.seed + 1) if run.recipe.data == "digits-hard" and lstm else 0
        run.row = {"mIoU": 50.0 + gain, "aAcc": 90.0, "params": 2e6 if lstm else 1e6}
    rows = {r["data"]: r for r in results.ablation_rows(selected, by_key, budget)}
    assert rows["digits-hard"]["mIoU_diff"] == 3.0 and rows["digits-hard"]["seeds"] == 5
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) · sd / √n, sd of 1..5
    assert rows["digits-hard"]["mIoU_ci95"] == pytest.approx(half, rel=1e-5)
    assert rows["digits"]["mIoU_diff"] == 0.0 and rows["digits"]["params_added"] == 1e6
    sentence = results.conclusion(list(rows.values()))
    assert "on `digits-hard` the LSTM helped: +3.00" in sentence
    assert "interval includes the claimed +1.5" in sentence  # 3 ± 1.96
    assert "on `digits` the LSTM was inconclusive" in sentence


def test_a_partial_full_run_cannot_overwrite_the_published_tables(capsys):
    with pytest.raises(SystemExit) as exit_:
        results.parse_args(["--only", "fcn"])
    assert exit_.value.code == 2 and "would replace the published tables" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_regenerates_the_tables(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nbefore\n\n{results.START}\nold\n{results.END}\n\nafter\n")
    command = [sys.executable, str(ROOT / "benchmarks" / "results.py"), "--quick",
               "--only", "resnet20_cifar", "fcn", "--out-dir", str(tmp_path / "csv"),
               "--readme", str(readme), "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n") and text.endswith("after\n")
    assert "old" not in text and "| ResNet-20 (He et al. 2016) |" in text and "| FCN |" in text
    with open(tmp_path / "csv" / "segmentation.csv") as file:
        (row,) = list(csv.DictReader(file))
    assert row["model"] == "fcn" and 0 <= float(row["mIoU_mean"]) <= 100
    assert float(row["params"]) > 0 and float(row["latency_ms"]) > 0
    assert row["train_command"].startswith("python -m train --model fcn --data digits --seed 0")
