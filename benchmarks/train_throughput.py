"""Training throughput of train/'s loop against a minimal hand-written PyTorch loop.

Same model, data, transforms and batch size; both timed in the same process, alternating, so
the ratio is meaningful on a noisy machine. On CUDA it also compares AMP, channels_last and
torch.compile settings of our loop.

    python benchmarks/train_throughput.py                      # resnet20_cifar on digits
    python benchmarks/train_throughput.py --model deeplabv3plus --data digits --image-size 96 \
        --model-kwargs backbone=test_resnet decoder_channels=48

Peak memory of a whole ``python -m train`` run (its own process, then DataLoader workers),
e.g. the README's segmentation example:

    python benchmarks/train_throughput.py --peak-rss -- --model deeplabv3_tf_efficientnet_lite0 \
        --data digits --epochs 1

Every run ends with the peak RSS (``getrusage`` ``ru_maxrss``) of this process and of its
children.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train import TrainConfig, build_data, build_loaders, create_model
from train.__main__ import _key_value
from train.data import IGNORE_INDEX
from train.loop import prepare_run, train_epoch

ROOT = Path(__file__).resolve().parents[1]


def ours(config: TrainConfig) -> float:
    """Images per second of train.fit's epoch loop (accelerate, timm optimizer/schedule)."""
    run = prepare_run(config)
    train_epoch(run, 0)  # warm-up: allocator, first batches, compile
    start = time.perf_counter()
    train_epoch(run, 1)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return config.max_steps_per_epoch * config.batch_size / (time.perf_counter() - start)


def plain(config: TrainConfig) -> float:
    """Images per second of the simplest correct loop: DataLoader, forward, loss, step."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, task = create_model(config)
    data = build_data(config.data, task, config.seed)
    model.reset_classifier(len(data.classes))
    model.to(device).train()
    loader, _ = build_loaders(config, data, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)

    def steps(count: int) -> None:
        for step, (images, targets) in enumerate(loader):
            if step == count:
                break
            images, targets = images.to(device), targets.to(device)
            logits = model(images)
            loss = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    count = config.max_steps_per_epoch or len(loader)
    steps(count)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    steps(count)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count * config.batch_size / (time.perf_counter() - start)


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size in MiB of this process and of its largest finished child
    (``ru_maxrss`` is in KiB on Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def train_run_peak(train_args: list[str]) -> int:
    """Run ``python -m train TRAIN_ARGS`` as a child; print its wall time and peak RSS (its
    own, from ``wait4``, and that of its own children, i.e. DataLoader workers). Returns its
    exit code.

    Linux starts a child's ``ru_maxrss`` at its parent's RSS (the process it was spawned
    from), so the figure is at least this process's own (about 0.5 GB with torch imported);
    launch this script from a shell, not from a large process.
    """
    command = [sys.executable, "-m", "train", *train_args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"python -m train {' '.join(train_args)}")
    print(
        f"  wall {seconds:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB (training "
        f"process), largest child {workers:.0f} MiB, {torch.get_num_threads()} threads"
    )
    return os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet20_cifar")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-kwargs", type=_key_value, nargs="*", default=[])
    parser.add_argument(
        "--peak-rss",
        action="store_true",
        help="--peak-rss -- TRAIN_ARGS: run python -m train TRAIN_ARGS and report its wall "
        "time and peak RSS (the other options do not apply)",
    )
    if "--peak-rss" in sys.argv[1:]:
        rest = sys.argv[sys.argv.index("--peak-rss") + 1 :]
        sys.exit(train_run_peak(rest[1:] if rest[:1] == ["--"] else rest))
    args = parser.parse_args()
    base = TrainConfig(
        model=args.model,
        data=args.data,
        batch_size=args.batch_size,
        image_size=args.image_size,
        max_steps_per_epoch=args.steps,
        progress=False,
        hflip=0.0,
        model_kwargs=dict(args.model_kwargs),
        output="/tmp/zoo-benchmark",
        sched="none",
        amp="no",  # fp32 as the reference; the AMP variants below are explicit
    )
    variants = {"ours (fp32)": base}
    if torch.cuda.is_available():
        variants.update(
            {
                "ours bf16": replace(base, amp="bf16"),
                "ours bf16 + channels_last": replace(base, amp="bf16", channels_last=True),
                "ours bf16 + channels_last + compile": replace(
                    base, amp="bf16", channels_last=True, compile=True
                ),
            }
        )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(
        f"{args.model} on {args.data}, batch {args.batch_size}, {args.steps} steps, {device}, "
        f"{torch.get_num_threads()} threads"
    )
    results: dict[str, list[float]] = {"plain PyTorch loop": []}
    results.update({name: [] for name in variants})
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both alike
        results["plain PyTorch loop"].append(plain(base))
        for name, config in variants.items():
            results[name].append(ours(config))
    reference = statistics.median(results["plain PyTorch loop"])
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"  {name:40s} {median:8.1f} img/s  (runs: {', '.join(f'{v:.0f}' for v in values)})"
            f"  ratio to plain {median / reference:.2f}"
        )
    own, children = peak_rss_mb()
    print(f"  peak RSS {own:.0f} MiB (this process), {children:.0f} MiB (largest child)")


if __name__ == "__main__":
    main()
