"""Inference speed side by side: the zoo (PyTorch eager, channels_last, ONNX Runtime and
OpenVINO in float and int8) against torchvision, timm and segmentation_models_pytorch on the
same architectures.

One table, measured in one run. Each group (one architecture and its contenders) is built,
warmed up once per contender, then timed for ``--repeats`` rounds in which the contenders
alternate (the order flips every round), so drift in machine load hits all alike; the median
is reported. Threads are pinned (``torch.set_num_threads`` and ONNX Runtime's intra-op
threads). GFLOP/s divides the model's FLOPs (counted once by ``torch.utils.flop_counter``, 2 per
multiply-add) by the median time, and "% peak" compares that with this machine's fp32
matrix-multiply peak, measured first. Random weights everywhere except where a row says
otherwise (speed does not depend on the values); ONNX exports go to a temporary folder.

    python benchmarks/inference.py                     # all rows, 3 repeats
    python benchmarks/inference.py --quick             # fewer rows, 2 repeats
    python benchmarks/inference.py --json out.json

smp is a benchmark-only dependency: ``pip install segmentation-models-pytorch`` (the
``bench`` extra); without it its rows are left out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo
from zoo.examples import example_images
from zoo.runtime import OVModel, openvino_available

#: The int8 rows' calibration: this many example photos.
CALIBRATION_PHOTOS = 2

#: The demo's default models (demo/models.py; the Segment and Video tabs default to the
#: segmentation tags whose weights load offline: the two person models).
DEMO_DEFAULTS = [
    "tf_efficientnet_lite0.in1k",
    "tf_efficientnet_lite1.in1k",
    "tf_efficientnet_lite2.in1k",
    "mediapipe_selfie.general_256",
    "mediapipe_selfie.landscape_144x256",
]


@dataclass
class Row:
    group: str
    contender: str
    batch: int
    size: str
    ms: float
    gflop: float
    ratio: float | None  # time / the group's reference time
    reference: str


def matmul_peak(seconds: float = 3.0, n: int = 2048) -> float:
    """Best fp32 GFLOP/s of ``n×n @ n×n`` over about ``seconds``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def count_gflop(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 1e9


def channels_last(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    model = model.to(memory_format=torch.channels_last)
    return lambda x: model(x.contiguous(memory_format=torch.channels_last))


def onnx(
    model: nn.Module, folder: Path, name: str, size: tuple[int, int], int8: bool = False
) -> nn.Module:
    """The model exported and loaded in ONNX Runtime; ``int8``: quantized, calibrated on
    :data:`CALIBRATION_PHOTOS` example photos (calibration affects accuracy, not speed; the
    default 12 views took > 8 minutes and 4 GB for DeepLabV3 at 512²)."""
    path = folder / f"{name}{'-int8' if int8 else ''}.onnx"
    if not int8:
        zoo.export(model, path, input_size=size)
    else:
        photos = [Image.fromarray(pixels) for _, pixels in example_images()]
        zoo.export(model, path, input_size=size, quantize="int8",
                   calibration=photos[:CALIBRATION_PHOTOS])  # fmt: skip
    return zoo.ORTModel(path)


def exported_contenders(
    model: nn.Module, folder: Path, name: str, size: tuple[int, int]
) -> dict[str, nn.Module]:
    """ONNX Runtime float32 and int8, and OpenVINO on the same two files when installed."""
    session, int8 = onnx(model, folder, name, size), onnx(model, folder, name, size, int8=True)
    found = {"zoo onnxruntime": session, "zoo onnxruntime int8": int8}
    if openvino_available():
        found["zoo openvino"] = OVModel(session.path)
        found["zoo openvino int8"] = OVModel(int8.path)
    return found


def time_group(
    group: str,
    contenders: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    gflop: dict[str, float],
    repeats: int,
    reference: str,
) -> list[Row]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    with torch.inference_mode():
        for name in names:
            contenders[name](x)  # warm-up
        for round_ in range(repeats):
            for name in names if round_ % 2 == 0 else reversed(names):
                start = time.perf_counter()
                contenders[name](x)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    size = f"{x.shape[-2]}×{x.shape[-1]}"
    rows = []
    for name in names:
        ratio = medians[name] / medians[reference] if reference in medians else None
        flops = gflop.get(name, gflop["zoo eager"])  # an ONNX row runs the zoo model's graph
        rows.append(Row(group, name, x.shape[0], size, medians[name], flops, ratio, reference))
        print(f"  {group:<34} {name:<28} {medians[name]:9.1f} ms", flush=True)
    return rows


def smp_model(kind: str) -> nn.Module | None:
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        return None
    cls = {"deeplabv3": smp.DeepLabV3, "deeplabv3plus": smp.DeepLabV3Plus, "pspnet": smp.PSPNet}
    return cls[kind](encoder_name="resnet50", encoder_weights=None, classes=21).eval()


def segmentation_rows(folder: Path, repeats: int, quick: bool) -> list[Row]:
    import torchvision.models.segmentation as tvseg

    x = torch.randn(1, 3, 512, 512)
    groups: list[tuple[str, str, dict[str, Callable[[], nn.Module]]]] = [
        ("DeepLabV3-ResNet50 (21 classes)", "deeplabv3_resnet50",
         {"torchvision": lambda: tvseg.deeplabv3_resnet50(weights=None, weights_backbone=None),
          "smp": lambda: smp_model("deeplabv3")}),
        ("FCN-ResNet50 (21 classes)", "fcn_resnet50",
         {"torchvision": lambda: tvseg.fcn_resnet50(weights=None, weights_backbone=None)}),
        ("DeepLabV3+-ResNet50 (21 classes)", "deeplabv3plus_resnet50",
         {"smp": lambda: smp_model("deeplabv3plus")}),
        ("PSPNet-ResNet50 (21 classes)", "pspnet_resnet50", {"smp": lambda: smp_model("pspnet")}),
        ("DeepLabV3+-EfficientNet-Lite0", "deeplabv3plus_tf_efficientnet_lite0", {}),
        ("HRNetV2-W18", "hrnetv2_w18", {}),
        ("MediaPipe selfie (person)", "mediapipe_selfie.general_256", {}),
        ("MediaPipe selfie landscape (person)", "mediapipe_selfie.landscape_144x256", {}),
    ]  # fmt: skip
    if quick:
        groups = [groups[0], groups[4], groups[6]]
    rows = []
    for title, name, others in groups:
        pretrained = name.startswith("mediapipe")
        model = zoo.create_model(name, pretrained=pretrained).eval()
        size = tuple(model.pretrained_cfg["input_size"][1:]) if pretrained else (512, 512)
        sample = x if size == (512, 512) else torch.randn(1, 3, *size)
        gflop = {"zoo eager": count_gflop(model, sample)}
        contenders: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"zoo eager": model}
        contenders["zoo channels_last"] = channels_last(
            zoo.create_model(name, pretrained=pretrained).eval()
        )
        contenders.update(exported_contenders(model, folder, name, size))
        for label, build in others.items():
            other = build()
            if other is None:
                continue
            other.eval()
            if label == "torchvision":
                contenders[label] = lambda t, m=other: m(t)["out"]
            else:
                contenders[label] = other
            gflop[label] = count_gflop(contenders[label], sample)  # smp's PSPNet is lighter
        reference = next((k for k in ("torchvision", "smp") if k in contenders), "zoo eager")
        rows += time_group(title, contenders, sample, gflop, repeats, reference)
        del contenders, model
        gc.collect()
    return rows


def classification_rows(folder: Path, repeats: int, quick: bool) -> list[Row]:
    import timm

    rows = []
    names = {  # the demo's default classifiers, and a large model
        "tf_efficientnet_lite0.in1k": (1, 32),
        "tf_efficientnet_lite1.in1k": (1,),
        "tf_efficientnet_lite2.in1k": (1,),
        "resnet50.a1_in1k": (1, 32),
    }
    for name, batches in list(names.items())[:1] if quick else names.items():
        arch = name.split(".")[0]
        # installed weights for lite0; random (same architecture) for the rest: speed only
        pretrained = name.startswith("tf_efficientnet_lite")
        ours = zoo.create_model(name, pretrained=pretrained).eval()
        theirs = timm.create_model(arch, pretrained=False).eval()
        theirs.load_state_dict(ours.state_dict())
        size = tuple(ours.pretrained_cfg["input_size"][1:])
        exported = exported_contenders(ours, folder, arch, size)
        for batch in batches:
            x = torch.randn(batch, 3, *size)
            gflop = {"zoo eager": count_gflop(ours, x), "timm eager": count_gflop(theirs, x)}
            contenders = {"zoo eager": ours, "timm eager": theirs, **exported}
            rows += time_group(f"{arch} (batch {batch})", contenders, x, gflop, repeats,
                               "timm eager")  # fmt: skip
    return rows


def startup_seconds(repeats: int = 3) -> dict[str, float]:
    """``import zoo`` and the first load of each default demo model, in fresh processes."""
    code = {
        "import zoo": "import zoo",
        **{
            f"first load of {name}": f"import zoo; zoo.create_model({name!r}, pretrained=True)"
            for name in DEMO_DEFAULTS
        },
    }
    out = {}
    for label, snippet in code.items():
        timed = f"import time; t = time.perf_counter(); {snippet}; print(time.perf_counter() - t)"
        runs = []
        for _ in range(repeats if label == "import zoo" else 1):
            done = subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True,
                                  check=True, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
            runs.append(float(done.stdout.strip().splitlines()[-1]))
        out[label] = statistics.median(runs)
    return out


def markdown(rows: list[Row], peak: float) -> str:
    lines = [
        "| architecture | contender | batch | input | ms | × reference | GFLOP/s | % peak |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = r.gflop / (r.ms / 1000)
        ratio = f"{r.ratio:.2f} × {r.reference}" if r.ratio is not None else ""
        lines.append(
            f"| {r.group} | {r.contender} | {r.batch} | {r.size} | {r.ms:.1f} | {ratio} | "
            f"{rate:.0f} | {100 * rate / peak:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer rows, 2 repeats")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads, torch {torch.__version__}", flush=True)  # fmt: skip
    peak = matmul_peak()
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s", flush=True)
    startup = startup_seconds()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        os.environ["ZOO_ONNX_CACHE"] = tmp  # zoo's export cache, here thrown away after
        rows = segmentation_rows(Path(tmp), repeats, args.quick)
        rows += classification_rows(Path(tmp), repeats, args.quick)
    print()
    print(markdown(rows, peak))
    print()
    for label, seconds in startup.items():
        print(f"- {label}: {seconds:.2f} s")
    if args.json:
        with zoo.atomic_write(args.json, "w") as file:
            json.dump({"peak_gflops": peak, "startup_s": startup,
                       "rows": [asdict(r) for r in rows]}, file, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
