"""What int8 costs and gains on the models whose weights are here: the demo's ImageNet
classifiers and person models, quantized with ``zoo.export(..., quantize="int8")`` (calibrated
on the example photos and their mirror images, the default).

Accuracy: on ``--views`` augmented views of the installed example photos (random resized
crops, flips, rotations and colour changes; seed 0), each view through the model's own
preprocessing into ONNX Runtime in float32 and in int8: for a classifier the share of views
whose top-1 class is the same and the mean KL divergence of the int8 softmax from the float
one; for a segmenter the share of pixels given the same class. These views are of the same six
photos the calibration saw (the only real photos offline), so read agreement as an upper
bound for photos unlike them. Two references put a classifier's agreement in scale: the
agreement on the views where float32 is decisive (its top-1 probability leads the second by
at least :data:`DECISIVE`), and float32's agreement with itself when each view is shifted by
one pixel (what a barely visible change of the input does to the same float model).

Speed: batch 1 at the model's input size, PyTorch eager, ONNX Runtime float32 and int8 (and
OpenVINO on the same two files, when installed) alternating for ``--repeats`` rounds (order
flipped each round), median per contender.

    python benchmarks/int8.py                    # 204 views, 30 timing rounds
    python benchmarks/int8.py --views 24 --only tf_efficientnet_lite0.in1k
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo
from zoo.examples import example_images
from zoo.runtime import OVModel, openvino_available

MODELS = [
    "tf_efficientnet_lite0.in1k",
    "tf_efficientnet_lite1.in1k",
    "tf_efficientnet_lite2.in1k",
    "mediapipe_selfie.general_256",
    "mediapipe_selfie.landscape_144x256",
]
COLUMNS = ("model", "task", "views", "agreement_pct", "kl", "decisive_views",
           "decisive_agreement_pct", "fp32_shift_agreement_pct", "eager_ms", "fp32_ms", "int8_ms",
           "int8_vs_eager", "int8_vs_fp32", "ov_fp32_ms", "ov_int8_ms", "calibration")  # fmt: skip
#: A view is decisive when float32's top-1 probability exceeds its second by at least this.
DECISIVE = 0.1


def views(count: int) -> list[Image.Image]:
    """``count`` augmented views of the example photos (seed 0)."""
    from torchvision.transforms import v2

    torch.manual_seed(0)
    augment = v2.Compose([
        v2.RandomResizedCrop(384, scale=(0.3, 1.0), ratio=(0.6, 1.6)),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(15),
        v2.ColorJitter(0.3, 0.3, 0.3, 0.05),
    ])  # fmt: skip
    photos = [Image.fromarray(pixels) for _, pixels in example_images()]
    return [augment(photos[i % len(photos)]) for i in range(count)]


@dataclass
class Agreement:
    """How often int8 gives float32's answer (percent), and the classifier references."""

    pct: float
    kl: float | None = None
    decisive_views: int | None = None
    decisive_pct: float | None = None
    fp32_shift_pct: float | None = None


def shifted(image: Image.Image) -> Image.Image:
    """``image`` moved one pixel right and down, its first row and column repeated."""
    pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
    return Image.fromarray(np.pad(pixels, ((1, 0), (1, 0), (0, 0)), mode="edge")[:-1, :-1])


def accuracy(
    task: str, fp32: torch.nn.Module, int8: torch.nn.Module, images: list[Image.Image]
) -> Agreement:
    """Agreement of ``int8`` with ``fp32``, each view through the zoo's own pipeline."""
    if task == "segmentation":
        same = [
            float((zoo.segment(fp32, image).mask == zoo.segment(int8, image).mask).mean())
            for image in images
        ]
        return Agreement(100 * statistics.fmean(same))
    k = len(zoo.get_labels(fp32))
    a, b = zoo.classify(fp32, images, top_k=k), zoo.classify(int8, images, top_k=k)
    moved = zoo.classify(fp32, [shifted(image) for image in images], top_k=1)
    same, kl, decisive = [], [], []
    for ref, got in zip(a, b, strict=True):
        same.append(float(ref[0][0] == got[0][0]))
        if ref[0][1] - ref[1][1] >= DECISIVE:
            decisive.append(same[-1])
        p, q = dict(ref), dict(got)
        kl.append(sum(v * (np.log(v + 1e-12) - np.log(q[label] + 1e-12)) for label, v in p.items()))
    steady = [float(ref[0][0] == m[0][0]) for ref, m in zip(a, moved, strict=True)]
    return Agreement(100 * statistics.fmean(same), statistics.fmean(kl), len(decisive),
                     100 * statistics.fmean(decisive) if decisive else None,
                     100 * statistics.fmean(steady))  # fmt: skip


def timings(
    contenders: dict[str, torch.nn.Module], x: torch.Tensor, repeats: int
) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    with torch.inference_mode():
        for name in names:
            contenders[name](x)
        for round_ in range(repeats):
            for name in names if round_ % 2 == 0 else reversed(names):
                start = time.perf_counter()
                contenders[name](x)
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def measure(name: str, images: list[Image.Image], folder: Path, repeats: int) -> dict[str, object]:
    model = zoo.create_model(name, pretrained=True).eval()
    task = zoo.model_info(name).task
    zoo.export(model, folder / "fp32.onnx")
    report = zoo.export(model, folder / "int8.onnx", quantize="int8")
    fp32, int8 = zoo.ORTModel(folder / "fp32.onnx"), zoo.ORTModel(folder / "int8.onnx")
    agreement = accuracy(task, fp32, int8, images)
    size = tuple(model.pretrained_cfg["input_size"][1:])
    contenders = {"eager": model, "fp32": fp32, "int8": int8}
    if openvino_available():  # the same two files on OpenVINO
        contenders["ov_fp32"] = OVModel(folder / "fp32.onnx")
        contenders["ov_int8"] = OVModel(folder / "int8.onnx")
    ms = timings(contenders, torch.randn(1, 3, *size), repeats)
    row = {
        "model": name, "task": task, "views": len(images),
        "agreement_pct": round(agreement.pct, 2), "kl": _rounded(agreement.kl, 4),
        "decisive_views": agreement.decisive_views,
        "decisive_agreement_pct": _rounded(agreement.decisive_pct, 2),
        "fp32_shift_agreement_pct": _rounded(agreement.fp32_shift_pct, 2),
        "eager_ms": round(ms["eager"], 2),
        "fp32_ms": round(ms["fp32"], 2), "int8_ms": round(ms["int8"], 2),
        "int8_vs_eager": round(ms["eager"] / ms["int8"], 2),
        "int8_vs_fp32": round(ms["fp32"] / ms["int8"], 2),
        "ov_fp32_ms": round(ms["ov_fp32"], 2) if "ov_fp32" in ms else None,
        "ov_int8_ms": round(ms["ov_int8"], 2) if "ov_int8" in ms else None,
        "calibration": (report.quantization or {}).get("calibration"),
    }  # fmt: skip
    print("  ".join(f"{k} {v}" for k, v in row.items() if k != "calibration"), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=204)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", action="append", help="a model name (repeatable)")
    parser.add_argument("--csv", type=Path, help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    images = views(args.views)
    rows = []
    for name in args.only or MODELS:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(measure(name, images, Path(folder), args.repeats))
    headers = ["model", "views", "top-1 / pixel agreement", "KL", "decisive views: agreement",
               "fp32 vs itself, 1 px shift", "eager ms", "ORT fp32 ms",
               "ORT int8 ms", "int8 vs eager", "int8 vs fp32", "OpenVINO fp32 ms",
               "OpenVINO int8 ms"]  # fmt: skip
    print("\n| " + " | ".join(headers) + " |\n|" + "---|" * len(headers))
    for r in rows:
        decisive = (None if r["decisive_views"] is None
                    else f"{r['decisive_agreement_pct']} % of {r['decisive_views']}")  # fmt: skip
        shift = (
            None if r["fp32_shift_agreement_pct"] is None else f"{r['fp32_shift_agreement_pct']} %"
        )
        cells = [r["model"], r["views"], f"{r['agreement_pct']} %", r["kl"], decisive, shift,
                 r["eager_ms"], r["fp32_ms"], r["int8_ms"], f"{r['int8_vs_eager']}×",
                 f"{r['int8_vs_fp32']}×", r["ov_fp32_ms"], r["ov_int8_ms"]]  # fmt: skip
        print("| " + " | ".join("–" if c is None else str(c) for c in cells) + " |")
    if args.csv:
        with zoo.atomic_write(args.csv, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
