"""Inference at scale: ``python -m zoo predict`` end to end against the model-bound rate.

One run, one fixed workload: ``--photos`` JPEGs (default 200) at 800×600 and 1024×768, made
from the photos the demo installs. For each model:

- **model-bound**: the forward pass alone, on the inputs the pipeline feeds that model (the
  same preprocessing, batch size and backend), photos per second;
- **end to end**: ``python -m zoo predict FOLDER --save mask`` in a fresh process, photos per
  second after start-up (the wall time of a one-photo run, stated separately), with the
  default streaming (``--batch-size 8``, ``--workers 2``) and with ``--workers 0 --batch-size 1``
  (one photo at a time, decoding in the main process) to show what each stage buys;
- for segmentation models, ``zoo.segment``'s own overhead per photo beyond the forward pass
  (decode, resize, normalise, upsample and argmax; no file written), in ms per megapixel.

Models: the bundled person model (MediaPipe selfie, ONNX Runtime), ``tf_efficientnet_lite0``
(installed ImageNet weights, ONNX Runtime) and DeepLabV3+-ResNet-50 at 512² (random weights
saved as a local model; PyTorch; ``--heavy-photos`` of the photos, default 16, as each takes
seconds). ``--rss N`` adds the person model over N photos with the resident memory of the
process tree sampled as it goes; ``--scaling`` adds 1 process × 2 threads against torchrun
2 processes × 1 thread.

    python benchmarks/predict.py                       # the table in benchmarks/README.md
    python benchmarks/predict.py --rss 2000 --scaling
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402

PERSON = "mediapipe_selfie.general_256"
CLASSIFIER = "tf_efficientnet_lite0.in1k"
SIZES = ((800, 600), (1024, 768))


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` JPEGs (quality 90) cycling through the photos that scikit-image and
    scikit-learn install (the demo's examples) and two sizes."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    arrays = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
              *load_sample_images().images]  # fmt: skip
    sources = [Image.fromarray(a).convert("RGB") for a in arrays]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo{i:05d}.jpg"
        if not path.exists():
            photo = sources[i % len(sources)].resize(SIZES[i % 2], Image.BILINEAR)
            photo.save(path, quality=90)
        paths.append(path)
    return paths


def heavy_model(folder: Path) -> str:
    """DeepLabV3+-ResNet-50 (21 classes, 512² crop) with random weights, saved locally."""
    path = folder / "deeplabv3plus_resnet50_random"
    if not (path / "model.safetensors").exists():
        torch.manual_seed(0)
        overlay = {"input_size": (3, 512, 512)}
        model = zoo.create_model(
            "deeplabv3plus_resnet50", num_classes=21, pretrained_backbone=False,
            pretrained_cfg_overlay=overlay,
        )  # fmt: skip
        zoo.save_pretrained(model, path)
    return f"local-dir:{path}"


def model_bound(name: str, backend: str, photos: list[Path], batch: int) -> float:
    """Photos per second of the forward pass alone, on the pipeline's own inputs."""
    model = zoo.create_model(name, pretrained=True).eval()
    model = zoo.pipeline.apply_backend(model, backend)
    dataset = zoo.pipeline.ImageFiles(photos, zoo.pipeline.Preprocess.of(model))
    chunks = [zoo.pipeline.collate([dataset[i] for i in range(s, min(s + batch, len(photos)))])
              for s in range(0, len(photos), batch)]  # fmt: skip

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = zoo.pipeline.run(model, x)
        return out.softmax(-1) if out.ndim == 2 else out

    forward(chunks[0].groups[0][1])  # warm-up
    start = time.perf_counter()
    for chunk in chunks:
        for _, x in chunk.groups:
            forward(x)
    return len(photos) / (time.perf_counter() - start)


def segment_overhead(name: str, backend: str, photos: list[Path]) -> tuple[float, float]:
    """``zoo.segment`` per photo and its forward alone (ms, medians), on these photos."""
    model = zoo.create_model(name, pretrained=True).eval()
    model = zoo.pipeline.apply_backend(model, backend)
    preprocess = zoo.pipeline.Preprocess.of(model)
    zoo.segment(model, photos[0])
    whole, forward = [], []
    for photo in photos:
        start = time.perf_counter()
        zoo.segment(model, photo)
        whole.append(time.perf_counter() - start)
        image, size = preprocess.load(photo)
        x = preprocess(image, preprocess.input_size(*size))[None]
        start = time.perf_counter()
        zoo.pipeline.run(model, x)
        forward.append(time.perf_counter() - start)
    return statistics.median(whole) * 1000, statistics.median(forward) * 1000


def predict(folder: Path, name: str, backend: str, out: Path, *extra: str,
            launcher: list[str] | None = None, env: dict[str, str] | None = None,
            sample_rss: bool = False) -> tuple[float, list[tuple[float, int, float]]]:  # fmt: skip
    """Wall seconds of one ``python -m zoo predict`` process (or launcher), and, when asked,
    the RSS samples ``(seconds, rows written, MiB)`` of its process tree."""
    command = [*(launcher or [sys.executable]), "-m", "zoo", "predict", str(folder), "--model",
               name, "--out", str(out), "--save", "mask", "--backend", backend, "--quiet",
               *extra]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    samples: list[tuple[float, int, float]] = []
    if sample_rss:
        watcher = threading.Thread(target=_watch, args=(process, out, start, samples))
        watcher.start()
    if process.wait() != 0:
        raise SystemExit(f"predict failed: {' '.join(command)}")
    seconds = time.perf_counter() - start
    if sample_rss:
        watcher.join()
    return seconds, samples


def _watch(process: subprocess.Popen, out: Path, start: float, samples: list) -> None:
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree) / 2**20
        except psutil.Error:
            break
        samples.append((time.perf_counter() - start, _rows(out), rss))
        time.sleep(1.0)


def _rows(out: Path) -> int:
    try:
        with open(out / "predictions.csv", newline="") as file:
            return max(0, sum(1 for _ in csv.reader(file)) - 1)
    except OSError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--heavy-photos", type=int, default=16)
    parser.add_argument("--rss", type=int, default=0, help="photos for the RSS curve (0: skip)")
    parser.add_argument("--scaling", action="store_true", help="1 vs 2 processes")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench-predict"
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = args.work
    photos = make_photos(work / "photos", args.photos)
    folder = work / "photos"
    heavy_folder = work / "heavy"
    heavy_folder.mkdir(parents=True, exist_ok=True)
    for p in photos[: args.heavy_photos]:
        if not (heavy_folder / p.name).exists():
            os.link(p, heavy_folder / p.name)
    heavy = heavy_model(work)
    one = work / "one"
    one.mkdir(exist_ok=True)
    if not (one / photos[1].name).exists():
        os.link(photos[1], one / photos[1].name)  # a 1024×768 photo
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
          f"{len(photos)} photos (800×600 and 1024×768 JPEG)")  # fmt: skip
    rows = []
    cases = [("person (MediaPipe selfie)", PERSON, "onnxruntime", folder, len(photos)),
             ("tf_efficientnet_lite0", CLASSIFIER, "onnxruntime", folder, len(photos)),
             ("DeepLabV3+-R50 512²", heavy, "pytorch", heavy_folder,
              args.heavy_photos)]  # fmt: skip
    for label, name, backend, source, count in cases:
        files = sorted(source.glob("*.jpg"))
        bound = model_bound(name, backend, files[: min(count, 48)], 8)
        startup, _ = predict(
            one, name, backend, work / "out" / f"{label}-startup", "--workers", "0"
        )
        times = {}
        variants = (("streaming", ("--batch-size", "8", "--workers", "2")),
                    ("workers 0", ("--batch-size", "8", "--workers", "0")),
                    ("workers 0, batch 1", ("--batch-size", "1", "--workers", "0")))  # fmt: skip
        for variant, extra in variants:
            out = work / "out" / f"{label}-{variant}"
            seconds, _ = predict(source, name, backend, out, *extra)
            times[variant] = count / max(seconds - startup, 1e-9)
        overhead = ""
        if zoo.model_info(name).task == "segmentation":
            total, forward = segment_overhead(name, backend, files[: min(count, 20)])
            megapixels = statistics.mean(w * h for w, h in SIZES) / 1e6
            overhead = f"{(total - forward) / megapixels:.0f}"
        rows.append((label, backend, bound, times["streaming"], times["workers 0"],
                     times["workers 0, batch 1"], startup, overhead))  # fmt: skip
        print(rows[-1], flush=True)
    print()
    print("| model | backend | model-bound photos/s | end to end photos/s (batch 8, workers 2) "
          "| ratio | batch 8, workers 0 | batch 1, workers 0 | start-up s "
          "| zoo.segment overhead ms/MP |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, backend, bound, e2e, inline, single, startup, overhead in rows:
        print(f"| {label} | {backend} | {bound:.1f} | {e2e:.1f} | {e2e / bound:.2f} | "
              f"{inline:.1f} | {single:.1f} | {startup:.1f} | {overhead or '–'} |")  # fmt: skip
    if args.scaling:
        _scaling(work, folder, len(photos))
    if args.rss:
        _rss(work, args.rss, photos)


def _scaling(work: Path, folder: Path, count: int) -> None:
    print("\n| processes × threads | photos/s (person model, end to end incl. start-up) |")
    print("|---|---:|")
    for label, launcher, env in (
        ("1 × 2", None, {"OMP_NUM_THREADS": "2"}),
        ("2 × 1 (torchrun)", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              "--nproc-per-node", "2"], {"OMP_NUM_THREADS": "1",
                                                          "GLOO_SOCKET_IFNAME": "lo"}),
    ):  # fmt: skip
        out = work / "out" / f"scaling-{label.split()[0]}"
        seconds, _ = predict(folder, PERSON, "onnxruntime", out, "--workers", "0",
                             launcher=launcher, env=env)  # fmt: skip
        print(f"| {label} | {count / seconds:.1f} |", flush=True)


def _rss(work: Path, count: int, photos: list[Path]) -> None:
    many = work / f"many-{count}"
    many.mkdir(exist_ok=True)
    for i in range(count):
        target = many / f"p{i:05d}.jpg"
        if not target.exists():
            os.link(photos[i % len(photos)], target)
    out = work / "out" / f"rss-{count}"
    seconds, samples = predict(many, PERSON, "onnxruntime", out, "--workers", "2",
                               sample_rss=True)  # fmt: skip
    print(
        f"\nRSS of the process tree, person model over {count} photos "
        f"({count / seconds:.1f} photos/s incl. start-up):\n"
    )
    print("| photos done | RSS MiB |")
    print("|---:|---:|")
    marks = [int(count * f) for f in (0.1, 0.25, 0.5, 0.75, 0.9)]
    for mark in marks:
        after = [s for s in samples if s[1] >= mark]
        if after:
            print(f"| {after[0][1]} | {after[0][2]:.0f} |")
    if samples:
        print(f"| peak | {max(s[2] for s in samples):.0f} |")


if __name__ == "__main__":
    main()
