"""Segmentation inference speed: zoo.segment_video against a minimal hand-written loop, and the
cost of sliding-window inference against whole-image inference.

(a) Frames per second of ``zoo.segment_video`` and of the simplest correct loop (PyAV decode →
    the same resize and normalisation → model in batches → logits upsampled to the frame →
    argmax → overlay → libx264 encode with the same settings), on the same generated clip and
    the same model: MediaPipe's selfie model (installed weights) and a heavier DeepLabV3+ built
    with random weights. Their per-frame class shares are compared as a correctness check.
(b) Wall time of ``zoo.segment(mode="slide")`` against ``mode="whole"`` on a 2048×1536 photo
    with a model whose crop is 512.

Contenders alternate within each repeat (the order flips every repeat), after one warm-up run
each, and the median of the repeats is reported, so drift in machine load hits all alike.

    python benchmarks/segment.py                       # 2 threads, 3 repeats
    python benchmarks/segment.py --threads 4 --repeats 5 --seconds 4
    python benchmarks/segment.py --device cuda
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from torch import nn
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo

VIDEO_MODELS = {
    "mediapipe_selfie.general_256": True,  # pretrained (installed weights)
    "deeplabv3plus_tf_efficientnet_lite0": False,  # random weights
}
SLIDE_MODEL = "deeplabv3plus_tf_efficientnet_lite0"
BATCH = 4
ALPHA = 0.5


def make_clip(path: Path, seconds: float, fps: int, size: tuple[int, int]) -> Path:
    """A slow pan and zoom over scikit-image's astronaut photo, as H.264 in MP4."""
    photo = Image.fromarray(data.astronaut()).convert("RGB")
    frames = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            t = index / max(frames - 1, 1)
            width = photo.width / (1 + 0.4 * t)
            height = min(width * size[1] / size[0], photo.height)
            left, top = (photo.width - width) * 0.35 * t, (photo.height - height) * 0.3 * t
            crop = photo.resize(size, Image.Resampling.BILINEAR,
                                box=(left, top, left + width, top + height))  # fmt: skip
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(crop), "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def resized(info: zoo.ModelInfo, width: int, height: int) -> tuple[int, int, bool]:
    """The ``(width, height)`` a frame goes into the model at, and whether the resize
    antialiases: the weights' test-time policy, else the short side to the crop's short side
    (as zoo.segment documents)."""
    if info.test_resize is not None:
        w, h = info.test_resize.output_size(width, height)
        return w, h, info.test_resize.antialias
    scale = min(info.input_size[1:]) / min(width, height)
    return int(width * scale + 0.5), int(height * scale + 0.5), True


def plain_loop(
    model: nn.Module, info: zoo.ModelInfo, src: Path, dst: Path, nchw: bool = False
) -> tuple[int, list[dict[str, float]]]:
    """The hand-written reference: returns the frame count and per-frame class shares.

    Stacking the decoded ``(H, W, 3)`` frames and permuting gives a channels-last batch;
    ``nchw=True`` makes it contiguous NCHW first, the layout ``zoo.segment_video`` feeds, to
    tell the cost of the memory layout from the cost of the code around the model."""
    device = next(model.parameters()).device
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    palette = np.asarray(zoo.get_palette(model), dtype=np.uint8)  # (K, 3)
    labels = zoo.get_labels(model)
    shares: list[dict[str, float]] = []
    with (
        av.open(str(src)) as source,
        av.open(str(dst), "w", options={"movflags": "faststart"}) as sink,
    ):
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        out = sink.add_stream("libx264", rate=stream.average_rate)
        out.width, out.height = stream.codec_context.width, stream.codec_context.height
        out.pix_fmt = "yuv420p"
        out.options = {"crf": "23", "preset": "veryfast"}

        def flush(frames: list[np.ndarray]) -> None:
            height, width = frames[0].shape[:2]
            w, h, antialias = resized(info, width, height)
            pixels = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (B, 3, H, W)
            if (h, w) != (height, width):
                pixels = TF.resize(pixels, [h, w], InterpolationMode.BILINEAR,
                                   antialias=antialias)  # fmt: skip
            x = ((pixels.float() / 255.0 - mean) / std).to(device)
            x = x.contiguous() if nchw else x
            with torch.inference_mode():
                logits = model(x).float().cpu()  # (B, K, h, w)
                logits = F.interpolate(logits, size=(height, width), mode="bilinear")
                masks = logits.argmax(1).to(torch.uint8).numpy()  # (B, H, W)
            for rgb, mask in zip(frames, masks, strict=True):
                counts = np.bincount(mask.ravel(), minlength=len(labels)) / mask.size
                shares.append({labels[i]: float(c) for i, c in enumerate(counts) if c})
                blend = (rgb * (1 - ALPHA) + palette[mask] * ALPHA).astype(np.uint8)
                for packet in out.encode(av.VideoFrame.from_ndarray(blend, format="rgb24")):
                    sink.mux(packet)

        pending: list[np.ndarray] = []
        for frame in source.decode(stream):
            pending.append(frame.to_ndarray(format="rgb24"))
            if len(pending) == BATCH:
                flush(pending)
                pending = []
        if pending:
            flush(pending)
        for packet in out.encode():
            sink.mux(packet)
    return len(shares), shares


def share_gap(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    """Largest difference of any class's pixel share on any frame (percentage points)."""
    return 100 * max(
        abs(x.get(k, 0.0) - y.get(k, 0.0)) for x, y in zip(a, b, strict=True) for k in {*x, *y}
    )


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def alternate(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, list]:
    """Seconds per run of each contender: one warm-up each, then ``repeats`` rounds whose
    order flips every round. The last value of each is kept too (for correctness checks)."""
    for fn in contenders.values():
        fn()
    runs: dict[str, list] = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            runs[name].append(timed(contenders[name]))
    return runs


def windows(length: int, crop: int, stride: int) -> int:
    return max(length - crop + stride - 1, 0) // stride + 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the test clip")
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--size", default="480x360", help="frame size of the test clip, WxH")
    parser.add_argument("--image", default="2048x1536", help="image size for slide vs whole")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-segment-") as work:
        run(args, torch.device(args.device), Path(work))


def run(args: argparse.Namespace, device: torch.device, work: Path) -> None:
    """Both benchmarks, writing clips and outputs into ``work``; prints the table."""
    size = tuple(int(v) for v in args.size.split("x"))
    clip = make_clip(work / "clip.mp4", args.seconds, args.fps, (size[0], size[1]))
    frames = int(args.seconds * args.fps)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"{where}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.repeats} repeats (median), clip {size[0]}×{size[1]} × {frames} frames, "
        f"batch {BATCH}"
    )
    rows: list[tuple[str, ...]] = []
    for name, pretrained in VIDEO_MODELS.items():
        model = zoo.create_model(name, pretrained=pretrained).eval().to(device)
        info = zoo.model_info(name)
        runs = alternate(
            {
                "hand-written loop": partial(plain_loop, model, info, clip, work / "plain.mp4"),
                "hand-written loop, NCHW input": partial(
                    plain_loop, model, info, clip, work / "nchw.mp4", nchw=True
                ),
                "zoo.segment_video": partial(
                    zoo.segment_video,
                    model,
                    clip,
                    work / "zoo.mp4",
                    batch_size=BATCH,
                    alpha=ALPHA,
                    progress=False,
                ),
            },
            args.repeats,
        )
        reference = frames / statistics.median(s for s, _ in runs["hand-written loop"])
        _, (count, plain_shares) = runs["hand-written loop"][-1]
        result = runs["zoo.segment_video"][-1][1]
        assert count == result.frames == frames, (count, result.frames)
        gap = share_gap(plain_shares, result.class_shares)
        label = f"video · {name}" + ("" if pretrained else " (random weights)")
        notes = {
            "hand-written loop": "input batch channels-last (stacked HWC frames)",
            "hand-written loop, NCHW input": "input made contiguous NCHW, as zoo's",
            "zoo.segment_video": f"largest Δ class share vs the loop: {gap:.2f} pp",
        }
        for contender, values in runs.items():
            fps = frames / statistics.median(s for s, _ in values)
            each = ", ".join(f"{frames / s:.1f}" for s, _ in values)
            rows.append((label, contender, f"{fps:7.1f} frames/s", each,
                         f"{fps / reference:4.2f}", notes[contender]))  # fmt: skip
            label = ""

    model = zoo.create_model(SLIDE_MODEL).eval().to(device)
    width, height = (int(v) for v in args.image.split("x"))
    photo = Image.fromarray(data.astronaut()[64:448]).resize((width, height))  # 4:3 crop
    runs = alternate(
        {mode: partial(zoo.segment, model, photo, mode=mode) for mode in ("whole", "slide")},
        args.repeats,
    )
    ran = runs["slide"][-1][1]
    crop = zoo.model_info(SLIDE_MODEL).input_size[1:]
    stride = [-(-c * 2 // 3) for c in crop]
    count = windows(ran.input_size[0], crop[0], stride[0]) * windows(
        ran.input_size[1], crop[1], stride[1]
    )
    whole = statistics.median(s for s, _ in runs["whole"])
    label = f"image {width}×{height} · {SLIDE_MODEL} (random weights)"
    for mode, values in runs.items():
        seconds = statistics.median(s for s, _ in values)
        note = f"resized to {ran.input_size[1]}×{ran.input_size[0]}; " + (
            f"{count} windows of {crop[1]}×{crop[0]}" if mode == "slide" else "one pass"
        )
        each = ", ".join(f"{1000 * s:.0f}" for s, _ in values)
        rows.append((label, f'zoo.segment(mode="{mode}")', f"{1000 * seconds:7.0f} ms", each,
                     f"{seconds / whole:4.2f}", note))  # fmt: skip
        label = ""

    headers = ("benchmark", "contender", "median", "runs", "ratio", "note")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(
        "ratio: video = frames/s relative to the hand-written loop (higher is faster); "
        'image = time relative to mode="whole" (the cost of sliding).'
    )


if __name__ == "__main__":
    main()
