"""The zoo's own results table: train and validate every recipe that runs on data available
offline, several seeds each, and write the numbers.

    python benchmarks/results.py                 # the full table (about 40 min on 2 cores)
    python benchmarks/results.py --quick         # every recipe, tiny budgets (CI-sized)
    python benchmarks/results.py --only resnet20_cifar fcn --quick
    python benchmarks/results.py --device cuda   # GPU rows, where a GPU is

Three suites, each run as ``python -m train`` then ``python -m train.validate`` would run it
(the exact commands are in the CSVs):

- ``classification``: scikit-learn's digits with the CIFAR ResNets of He et al. 2016
  (``resnet20/32/44/56_cifar``, from scratch) and ``tf_efficientnet_lite0`` fine-tuned from its
  installed ImageNet weights;
- ``segmentation``: the digit canvases with FCN, DeepLabV3, DeepLabV3+, PSPNet and the
  spatial-LSTM head on one small backbone (timm's ``test_resnet`` at output stride 8), and
  HRNetV2-W18 (HRNetV2 is defined by its own backbone);
- ``ablation``: the spatial-LSTM head with its zig-zag LSTM and without it (``scan="none"``:
  the same head, the LSTM removed), same backbone and recipe, on the digit canvases and on
  the harder ``digits-hard`` canvases, paired by seed (a seed fixes the data split, the
  canvases and the backbone's initialisation for both arms).

Each run trains in its own process on ``--threads`` threads (``--jobs`` at once); training time
is that run's wall time under those conditions. Latency is measured afterwards, one model at a
time on all threads: batch 1 at the evaluation size, the median of ``LATENCY_RUNS`` warm runs
(random weights: speed does not depend on them). Writes ``benchmarks/results/*.csv`` (one row
per run, and a summary per suite), the tables between the ``results`` markers of
``benchmarks/README.md``, and the ablation note that the spatial-LSTM model card shows
(``zoo/bundled/measured/slstm.md``). ``--quick`` writes under ``runs/results-quick/`` instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY_WARMUP, LATENCY_RUNS = 3, 15
START, END = "<!-- results:start -->", "<!-- results:end -->"
SEG_BACKBONE = {"backbone": "test_resnet", "output_stride": 8}
#: The gain (accuracy points) one of the projects this zoo grew out of claims for the layer.
CLAIMED_GAIN = 1.5


@dataclass(frozen=True)
class Budget:
    """Epochs per suite, and caps for CI-sized runs."""

    cifar_epochs: int
    finetune_epochs: int
    seg_epochs: int
    hard_epochs: int  # the harder canvases learn slower
    seeds: int
    ablation_seeds: int
    max_steps: int | None = None  # optimizer steps per epoch
    val_limit: int | None = None  # validation images


FULL = Budget(cifar_epochs=4, finetune_epochs=2, seg_epochs=4, hard_epochs=8, seeds=3,
              ablation_seeds=5)  # fmt: skip
QUICK = Budget(cifar_epochs=1, finetune_epochs=1, seg_epochs=1, hard_epochs=1, seeds=1,
               ablation_seeds=2, max_steps=2, val_limit=16)  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """One table row: a model, its data and its training settings (``TrainConfig`` fields)."""

    suite: str
    label: str
    model: str
    data: str
    settings: dict[str, Any] = field(hash=False)
    side: int  # evaluation input side (pixels), for the latency

    def key(self) -> tuple[str, str, str]:
        """Runs with equal keys are the same run (the ablation reuses table rows)."""
        return self.model, self.data, repr(sorted(self.settings.items()))


def recipes(budget: Budget) -> list[Recipe]:
    cifar = dict(epochs=budget.cifar_epochs, batch_size=32, lr=0.1, warmup_epochs=1)
    rows = [
        Recipe("classification", f"ResNet-{depth} (He et al. 2016)", f"resnet{depth}_cifar",
               "digits", cifar, 32)
        for depth in (20, 32, 44, 56)
    ]  # fmt: skip
    finetune = dict(pretrained=True, epochs=budget.finetune_epochs, batch_size=64, lr=0.05,
                    image_size=64)  # fmt: skip
    rows.append(Recipe("classification", "EfficientNet-Lite0, ImageNet weights",
                       "tf_efficientnet_lite0", "digits", finetune, 64))  # fmt: skip
    seg = dict(epochs=budget.seg_epochs, opt="adamw", lr=0.01, weight_decay=1e-4, scale=(0.9, 1.1))
    heads = [("FCN", "fcn"), ("DeepLabV3", "deeplabv3"), ("DeepLabV3+", "deeplabv3plus"),
             ("PSPNet", "pspnet"), ("spatial LSTM (zig-zag)", "slstm")]  # fmt: skip
    for label, model in heads:
        rows.append(Recipe("segmentation", label, model, "digits",
                           {**seg, "model_kwargs": dict(SEG_BACKBONE)}, 64))  # fmt: skip
    rows.append(Recipe("segmentation", "HRNetV2-W18", "hrnetv2_w18", "digits", seg, 64))
    for data in ("digits", "digits-hard"):
        for scan, label in (("zigzag", "with the zig-zag LSTM"), ("none", "without (control)")):
            kwargs = dict(SEG_BACKBONE) if scan == "zigzag" else {**SEG_BACKBONE, "scan": scan}
            epochs = budget.seg_epochs if data == "digits" else budget.hard_epochs
            rows.append(Recipe("ablation", label, "slstm", data,
                               {**seg, "epochs": epochs, "model_kwargs": kwargs}, 64))  # fmt: skip
    return rows


# -- commands -----------------------------------------------------------------------------------
def _flag(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    if isinstance(value, (tuple, list)):
        return [flag, *(str(v) for v in value)]
    if isinstance(value, dict):
        return [flag, *(f"{k}={v}" for k, v in value.items())]
    return [flag, str(value)]


def train_command(recipe: Recipe, seed: int, output: str, budget: Budget) -> list[str]:
    """The ``python -m train`` arguments of one run."""
    args = ["--model", recipe.model, "--data", recipe.data, "--seed", str(seed)]
    settings = dict(recipe.settings)
    if budget.max_steps:
        settings["max_steps_per_epoch"] = budget.max_steps
    for name, value in settings.items():
        args += _flag(name, value)
    return [*args, "--output", output]


def validate_command(recipe: Recipe, seed: int, output: str, budget: Budget) -> list[str]:
    """The ``python -m train.validate`` arguments of one run (its seed picks the same
    validation split as training did)."""
    args = ["--model", f"local-dir:{output}/best", "--data", recipe.data, "--seed", str(seed)]
    return args + (["--limit", str(budget.val_limit)] if budget.val_limit else [])


def shown(module: str, args: Sequence[str]) -> str:
    """The command as a user types it in the checkout (paths relative to it)."""
    return " ".join(["python", "-m", module, *args]).replace(f"{ROOT}{os.sep}", "")


# -- one run, in a worker process ----------------------------------------------------------------
def _init_worker(threads: int, cpu_only: bool) -> None:
    if cpu_only:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    torch.set_num_threads(threads)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train, then validate the best model; the row of this run."""
    import train.__main__ as cli
    import zoo
    from train.validate import main as validate_main

    output = Path(job["output"])
    cached = cached_row(output, job["train"], job["validate"])
    if cached is not None:
        return cached
    trained = trained_seconds(output, job["train"])  # same training, new validation command
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "log.txt", "a" if trained else "w") as log, contextlib.redirect_stdout(log):
        code, seconds = 0, trained
        if seconds is None:
            start = time.perf_counter()
            code = cli.main([*job["train"], "--no-progress"])
            seconds = time.perf_counter() - start
        if code == 0:
            code = validate_main([*job["validate"], "--workers", "0", "--no-progress",
                                  "--out", str(output / "validate.json")])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"{output}: exit {code} (see {output / 'log.txt'})")

    metrics = json.loads((output / "validate.json").read_text())
    info = zoo.model_info(f"local-dir:{output}/best")
    keep = ("top1", "top5", "mIoU", "aAcc", "mAcc")
    row = {
        "train_s": seconds,
        "params": info.params,
        **{k: metrics[k] for k in keep if k in metrics},
    }
    store_row(output, job["train"], job["validate"], row)
    return {**row, "reused": True} if trained is not None else row


def store_row(output: Path, train: list[str], validate: list[str], row: dict[str, Any]) -> None:
    """Keep a finished run's row beside it, with the commands that made it."""

    import zoo

    with zoo.atomic_write(output / "row.json", "w") as file:
        json.dump({"train": train, "validate": validate, "row": row}, file, indent=1)


def trained_seconds(output: Path, train: list[str]) -> float | None:
    """The training time of a run already trained with exactly ``train`` (its best model
    kept), else None."""

    try:
        saved = json.loads((output / "row.json").read_text())
    except (OSError, ValueError):
        return None
    if saved.get("train") != train or not (output / "best" / "config.json").is_file():
        return None
    return float(saved["row"]["train_s"])


def cached_row(output: Path, train: list[str], validate: list[str]) -> dict[str, Any] | None:
    """The row of a run already done with exactly these commands (``--fresh`` ignores it)."""

    try:
        saved = json.loads((output / "row.json").read_text())
    except (OSError, ValueError):
        return None
    same = saved.get("train") == train and saved.get("validate") == validate
    return {**saved["row"], "reused": True} if same else None


# -- latency, in this process ---------------------------------------------------------------------
def latency_ms(recipe: Recipe, device: str) -> float:
    """Median wall time (ms) of a warm forward pass at batch 1."""
    import torch

    import zoo

    kwargs = dict(recipe.settings.get("model_kwargs", {}))
    classes = 10 if recipe.suite == "classification" else 11
    model = zoo.create_model(recipe.model, num_classes=classes, **kwargs).eval().to(device)
    x = torch.randn(1, 3, recipe.side, recipe.side, device=device)
    times = []
    with torch.inference_mode():
        for index in range(LATENCY_WARMUP + LATENCY_RUNS):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            if index >= LATENCY_WARMUP:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# -- statistics ------------------------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def paired_interval(differences: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean of paired differences and the half-width of its Student-t interval."""
    from scipy.stats import t

    mean, std = mean_std(differences)
    n = len(differences)
    if n < 2:
        return mean, math.nan
    return mean, float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)


def _pm(values: Sequence[float], digits: int = 2) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# -- the whole run ----------------------------------------------------------------------
@dataclass
class Run:
    recipe: Recipe
    seed: int
    output: str
    train: list[str]
    validate: list[str]
    row: dict[str, Any] = field(default_factory=dict)


def plan(selected: list[Recipe], budget: Budget, runs_dir: Path) -> tuple[list[Run], dict]:
    """The runs to do (each distinct run once) and, per recipe, its runs by seed."""
    unique: dict[tuple, dict[int, Run]] = {}
    for recipe in selected:
        seeds = budget.ablation_seeds if recipe.suite == "ablation" else budget.seeds
        for seed in range(seeds):
            runs = unique.setdefault(recipe.key(), {})
            if seed not in runs:
                slug = re.sub(r"[^a-z0-9]+", "-", f"{recipe.model}-{recipe.data}-{len(unique)}")
                output = str(runs_dir / slug / f"seed{seed}")
                runs[seed] = Run(recipe, seed, output, train_command(recipe, seed, output, budget),
                                 validate_command(recipe, seed, output, budget))  # fmt: skip
    todo = [run for runs in unique.values() for run in runs.values()]
    return todo, unique


def run_all(todo: list[Run], jobs: int, threads: int, cpu_only: bool) -> None:
    """Run (or reuse) every run; each gets its ``row``."""
    for run in todo:
        run.row = cached_row(Path(run.output), run.train, run.validate) or {}
    todo = [run for run in todo if not run.row]
    if not todo:
        return
    context = get_context("spawn")
    with ProcessPoolExecutor(jobs, context, initializer=_init_worker,
                             initargs=(threads, cpu_only)) as pool:  # fmt: skip
        futures = {pool.submit(run_one, vars(run) | {"recipe": None}): run for run in todo}
        for done, (future, run) in enumerate(futures.items(), 1):
            run.row = future.result()
            metric = run.row.get("mIoU", run.row.get("top1"))
            print(f"[{done}/{len(todo)}] {run.recipe.model} {run.recipe.data} seed {run.seed}: "
                  f"{metric:.2f} in {run.row['train_s']:.0f} s", flush=True)  # fmt: skip


def _runs_of(recipe: Recipe, by_key: dict, budget: Budget) -> list[Run]:
    seeds = budget.ablation_seeds if recipe.suite == "ablation" else budget.seeds
    return [by_key[recipe.key()][seed] for seed in range(seeds)]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import zoo

    columns = list(dict.fromkeys(key for row in rows for key in row))
    with zoo.atomic_write(path, "w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)


def summarise(
    selected: list[Recipe], by_key: dict, budget: Budget, latencies: dict, device: str
) -> dict[str, list[dict[str, Any]]]:
    """Per suite: one row per run and one summary row per recipe."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for recipe in selected:
        runs = _runs_of(recipe, by_key, budget)
        metric = "top1" if recipe.suite == "classification" else "mIoU"
        second = "top5" if recipe.suite == "classification" else "aAcc"
        first = runs[0]
        summary = {
            "suite": recipe.suite, "label": recipe.label, "model": recipe.model,
            "data": recipe.data, "device": device, "seeds": len(runs),
            f"{metric}_mean": mean_std([r.row[metric] for r in runs])[0],
            f"{metric}_std": mean_std([r.row[metric] for r in runs])[1],
            f"{second}_mean": mean_std([r.row[second] for r in runs])[0],
            f"{second}_std": mean_std([r.row[second] for r in runs])[1],
            "params": first.row["params"],
            "train_s_mean": statistics.fmean(r.row["train_s"] for r in runs),
            "latency_ms": latencies[recipe.key()],
            "train_command": shown("train", first.train),
            "validate_command": shown("train.validate", first.validate),
        }  # fmt: skip
        tables.setdefault(recipe.suite, []).append(summary)
        for run in runs:
            tables.setdefault(f"{recipe.suite}_runs", []).append(
                {
                    "label": recipe.label,
                    "model": recipe.model,
                    "data": recipe.data,
                    "seed": run.seed,
                    "device": device,
                    **run.row,
                    "train_command": shown("train", run.train),
                }
            )
    return tables


def ablation_rows(selected: list[Recipe], by_key: dict, budget: Budget) -> list[dict[str, Any]]:
    """Per data set: with − without, paired by seed, for mIoU and pixel accuracy."""
    rows = []
    arms = [r for r in selected if r.suite == "ablation"]
    for data in dict.fromkeys(r.data for r in arms):
        with_, without = (next(r for r in arms if r.data == data and r.label.startswith(p))
                          for p in ("with ", "without"))  # fmt: skip
        a, b = _runs_of(with_, by_key, budget), _runs_of(without, by_key, budget)
        row: dict[str, Any] = {"data": data, "seeds": len(a)}
        for metric in ("mIoU", "aAcc"):
            diff, half = paired_interval(
                [x.row[metric] - y.row[metric] for x, y in zip(a, b, strict=True)]
            )
            row |= {f"{metric}_with": _pm([x.row[metric] for x in a]),
                    f"{metric}_without": _pm([y.row[metric] for y in b]),
                    f"{metric}_diff": diff, f"{metric}_ci95": half}  # fmt: skip
        row["params_added"] = a[0].row["params"] - b[0].row["params"]
        rows.append(row)
    return rows


#: Per task: the table's title, its two metric columns (key, header).
TABLES = {
    "classification": ("Classification, scikit-learn digits (val split)",
                       (("top1", "top-1 %"), ("top5", "top-5 %"))),
    "segmentation": ("Segmentation, digit canvases (val split, 64×64)",
                     (("mIoU", "mIoU %"), ("aAcc", "aAcc %"))),
}  # fmt: skip


def summary_table(
    rows: list[dict[str, Any]], title: str, metrics: Sequence[tuple[str, str]]
) -> str:
    """One suite's Markdown table: mean ± std of two metrics, params, time, command."""
    columns = " | ".join(header for _, header in metrics)
    lines = [f"**{title}**", "", f"| model | {columns} | params | train s | latency ms | command |",
             "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        cells = [f"{r[f'{key}_mean']:.2f} ± {r[f'{key}_std']:.2f}" for key, _ in metrics]
        lines.append(
            f"| {r['label']} | {' | '.join(cells)} | {r['params'] / 1e6:.2f} M | "
            f"{r['train_s_mean']:.0f} | {r['latency_ms']:.1f} | `{r['train_command']}` |"
        )
    return "\n".join(lines)


def markdown(tables: dict, ablation: list[dict], latency_ratio: dict, header: str) -> str:
    lines = [header, ""]
    for suite, (title, metrics) in TABLES.items():
        if suite in tables:
            lines += [summary_table(tables[suite], title, metrics), ""]
    if ablation:
        lines += [ablation_markdown(ablation, latency_ratio), ""]
    return "\n".join(lines).rstrip() + "\n"


def ablation_markdown(ablation: list[dict], latency_ratio: dict) -> str:
    lines = [
        "**The spatial-LSTM claim: the same head with and without its zig-zag LSTM** "
        "(mean ± std over seeds; difference = with − without, paired by seed, with its 95 % "
        "Student-t interval)",
        "",
        "| data | seeds | mIoU with | mIoU without | Δ mIoU (95 % CI) | aAcc with | aAcc without "
        "| Δ aAcc (95 % CI) | params added | latency × |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ablation:
        lines.append(
            f"| `{r['data']}` | {r['seeds']} | {r['mIoU_with']} | {r['mIoU_without']} | "
            f"{r['mIoU_diff']:+.2f} ± {r['mIoU_ci95']:.2f} | {r['aAcc_with']} | "
            f"{r['aAcc_without']} | {r['aAcc_diff']:+.2f} ± {r['aAcc_ci95']:.2f} | "
            f"{r['params_added'] / 1e6:.2f} M | {latency_ratio.get(r['data'], math.nan):.2f} |"
        )
    return "\n".join(lines)


def conclusion(ablation: list[dict]) -> str:
    """One sentence per data set: what the LSTM did, whatever it did."""
    parts = []
    for r in ablation:
        low, high = r["mIoU_diff"] - r["mIoU_ci95"], r["mIoU_diff"] + r["mIoU_ci95"]
        verdict = "helped" if low > 0 else "hurt" if high < 0 else "was inconclusive"
        claim = "includes" if low <= CLAIMED_GAIN <= high else "excludes"
        parts.append(
            f"on `{r['data']}` the LSTM {verdict}: {r['mIoU_diff']:+.2f} mIoU points "
            f"(95 % CI {low:+.2f} to {high:+.2f}, {r['seeds']} seeds; the interval {claim} "
            f"the claimed {CLAIMED_GAIN:+.1f})"
        )
    return "; ".join(parts) + "."


def update_readme(path: Path, block: str) -> None:
    import zoo

    text = (
        path.read_text(encoding="utf-8") if path.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    )
    if START not in text or END not in text:
        text = (
            text.rstrip()
            + f"\n\n## The zoo's results (`python benchmarks/results.py`)\n\n{START}\n{END}\n"
        )
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    updated = pattern.sub(lambda _: f"{START}\n{block}{END}", text)
    with zoo.atomic_write(path, "w") as file:
        file.write(updated)


def card_note(ablation: list[dict], ratio: dict, budget: Budget, when: str) -> str:
    """The Markdown the spatial-LSTM model cards show (``zoo/bundled/measured/slstm.md``)."""
    return (
        "Measured with `python benchmarks/results.py` on "
        f'{when}: the same head with and without its zig-zag LSTM (`scan="none"`; without '
        "it the fuse conv also sees half the channels, so the parameters added are the LSTM's "
        f"and a wider fuse conv's), on timm's `test_resnet` backbone at output stride 8, "
        f"{budget.seg_epochs} epochs of AdamW ({budget.hard_epochs} on `digits-hard`), paired "
        f"by seed; {conclusion(ablation)} The claim under test — {CLAIMED_GAIN:+.1f} points of "
        "test accuracy for ResNet-50, EfficientNet-B4 and EfficientNetV2, made by one of the "
        "projects this zoo grew out of — was about its own data set; these small canvases are "
        "not that setting, so this measures the layer, not the claim on its data.\n\n"
        + ablation_markdown(ablation, ratio)
        + "\n"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny budgets: checks the pipeline, not the models"
    )
    p.add_argument("--only", nargs="+", metavar="MODEL", help="recipes of these model names only")
    p.add_argument("--suites", nargs="+", choices=("classification", "segmentation", "ablation"),
                   default=["classification", "segmentation", "ablation"])  # fmt: skip
    p.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--out-dir", type=Path, help="CSV directory (default benchmarks/results)")
    p.add_argument("--readme", type=Path, help="the README whose results block is rewritten")
    p.add_argument("--card-note", type=Path, help="where the spatial-LSTM card note goes")
    p.add_argument("--runs-dir", type=Path, help="training runs (default runs/results)")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="retrain every run (default: reuse runs done with the same commands)",
    )
    args = p.parse_args(argv)
    base = ROOT / "runs" / ("results-quick" if args.quick else "results")
    args.runs_dir = args.runs_dir or base
    if args.quick:
        args.out_dir = args.out_dir or base / "csv"
        args.readme = args.readme or base / "README.md"
        args.card_note = args.card_note or base / "slstm.md"
    else:
        partial = args.only or len(args.suites) < 3
        if partial and not (args.out_dir and args.readme and args.card_note):
            p.error(
                "--only/--suites would replace the published tables with part of them; add "
                "--quick, or give --out-dir, --readme and --card-note"
            )
        args.out_dir = args.out_dir or ROOT / "benchmarks" / "results"
        args.readme = args.readme or ROOT / "benchmarks" / "README.md"
        args.card_note = args.card_note or ROOT / "zoo" / "bundled" / "measured" / "slstm.md"
    if args.jobs < 1 or args.threads < 1:
        p.error("--jobs and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: CUDA is not available here", file=sys.stderr)
        return 2
    started = time.perf_counter()
    budget = QUICK if args.quick else FULL
    selected = [r for r in recipes(budget) if r.suite in args.suites
                and (not args.only or r.model in args.only)]  # fmt: skip
    if not selected:
        print("error: no recipe matches --only/--suites", file=sys.stderr)
        return 2
    todo, by_key = plan(selected, budget, args.runs_dir)
    if args.fresh:
        for run in todo:
            (Path(run.output) / "row.json").unlink(missing_ok=True)
    print(f"{len(todo)} runs, {args.jobs} at a time on {args.threads} thread(s) each", flush=True)
    run_all(todo, args.jobs, args.threads, cpu_only=args.device == "cpu")
    reused = sum(1 for run in todo if run.row.get("reused"))
    latencies = {r.key(): latency_ms(r, args.device) for r in selected}
    tables = summarise(selected, by_key, budget, latencies, args.device)
    ablation = ablation_rows(selected, by_key, budget) if "ablation" in args.suites else []
    ratio = {}
    for data in {r["data"] for r in ablation}:
        arms = [r for r in selected if r.suite == "ablation" and r.data == data]
        ratio[data] = latencies[arms[0].key()] / latencies[arms[1].key()]
    for name, rows in tables.items():
        write_csv(args.out_dir / f"{name}.csv", rows)
    if ablation:
        write_csv(args.out_dir / "ablation_summary.csv", ablation)
    elapsed = time.perf_counter() - started
    reuse_note = (
        f" ({reused} of {len(todo)} trainings reused from earlier invocations)" if reused else ""
    )
    when = datetime.date.today().isoformat()
    header = (
        f"Generated {when} by `python benchmarks/results.py{' --quick' if args.quick else ''}` "
        f"in {elapsed / 60:.1f} min{reuse_note}"
        f" on {platform.machine()} ({os.cpu_count()} CPUs, "
        f"device {args.device}), torch {torch.__version__}; {args.jobs} runs at a time on "
        f"{args.threads} thread(s) each (train s is a run's wall time under that load); "
        f"latency: batch 1, median of {LATENCY_RUNS} warm runs, one model at a time on "
        f"{torch.get_num_threads()} threads. Budgets: CIFAR ResNets {budget.cifar_epochs} "
        f"epochs, EfficientNet-Lite0 {budget.finetune_epochs}, segmentation "
        f"{budget.seg_epochs} (`digits-hard` {budget.hard_epochs}); {budget.seeds} seeds "
        f"(ablation {budget.ablation_seeds})."
    )
    if ablation:
        header += f"\n\nSpatial-LSTM ablation: {conclusion(ablation)}"
    update_readme(args.readme, markdown(tables, ablation, ratio, header))
    if ablation and "digits" in ratio:
        import zoo

        with zoo.atomic_write(args.card_note, "w") as file:
            file.write(card_note(ablation, ratio, budget, when))
    print(f"done in {elapsed:.0f} s: {args.out_dir}, {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
