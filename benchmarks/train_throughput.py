"""Training throughput of train/'s loop against a minimal hand-written PyTorch loop.

Same model, data, transforms and batch size; both timed in the same process, alternating, so
the ratio is meaningful on a noisy machine. On CUDA it also compares AMP, channels_last and
torch.compile settings of our loop.

    python benchmarks/train_throughput.py                      # resnet20_cifar on digits
    python benchmarks/train_throughput.py --model deeplabv3plus --data digits --image-size 96 \
        --model-kwargs backbone=test_resnet decoder_channels=48
"""

from __future__ import annotations

import argparse
import statistics
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


if __name__ == "__main__":
    main()
