"""The zoo's command line: ``python -m zoo predict INPUT... --model NAME`` and
``python -m zoo export NAME --out model.onnx``.

``predict``: classification models print their top-k classes; segmentation models write an
overlay and a palette mask PNG per image (an overlay MP4 per video). A CSV summary goes beside
them. ``export``: writes an ONNX file checked against PyTorch in ONNX Runtime.
Errors are one line each on stderr; the exit status is 2 when any input failed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, ZooError
from .images import SUPPORTED

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def _inputs(paths: Sequence[str], out: Path) -> list[tuple[Path, Path]]:
    """``(file, output stem)`` pairs: files as given, and the images and videos inside folders
    (sorted, recursive, hidden files and the output folder skipped). Stems mirror a file's
    place inside its folder (``a/x.png`` → ``OUT/a/x``); a stem given twice (``x.jpg`` and
    ``x.png``) gets ``-2``, so no output is written over another."""
    found: list[tuple[Path, Path]] = []
    out = out.resolve()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path)
                if (
                    file.is_file()
                    and file.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
                    and not any(part.startswith(".") for part in relative.parts)
                    and not file.resolve().is_relative_to(out)
                ):
                    found.append((file, relative.with_suffix("")))
        else:
            found.append((path, Path(path.stem)))
    stems: set[Path] = set()
    unique = []
    for file, stem in found:
        candidate, n = stem, 1
        while candidate in stems:  # the same file name given twice
            n += 1
            candidate = stem.with_name(f"{stem.name}-{n}")
        stems.add(candidate)
        unique.append((file, candidate))
    return unique


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="run a model on images, folders and videos",
        description="Run a model on images (" + SUPPORTED + "), folders of them, and videos.",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image, video or folder")
    predict.add_argument("--model", required=True, help="zoo name, local-dir:PATH or hf-hub:ID")
    predict.add_argument("--weights", help="a local weight file for a registered tag")
    predict.add_argument("--out", default="predictions", type=Path, help="output folder")
    predict.add_argument("--tta", choices=["flip"], help="test-time augmentation")
    predict.add_argument("--mode", choices=["auto", "whole", "slide"], default="auto")
    predict.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0–1")
    predict.add_argument("--top-k", type=int, default=5, help="classes printed (classifiers)")
    predict.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    predict.add_argument("--backend", choices=["pytorch", "onnxruntime", "auto"],
                         default="pytorch", help="PyTorch, or the ONNX export")  # fmt: skip
    export = commands.add_parser(
        "export",
        help="export a model to ONNX",
        description="Export a model to ONNX (dynamic batch, height and width where the graph "
        "allows) and check it against PyTorch in ONNX Runtime.",
    )
    export.add_argument("model", metavar="NAME", help="zoo name, local-dir:PATH or hf-hub:ID")
    export.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    export.add_argument("--weights", help="a local weight file for a registered tag")
    export.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                        help="size to record at (default: the model's input size)")  # fmt: skip
    export.add_argument("--static", action="store_true", help="fix batch, height and width")
    export.add_argument("--fp16", action="store_true", help="record in float16")
    return parser


def export_command(args: argparse.Namespace) -> int:
    """Export ``args.model`` to ``args.out``; returns the exit status."""
    from .export import export
    from .factory import create_model

    if args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give the .onnx file to write")
    overlay = {"file": args.weights} if args.weights else None
    model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
    report = export(
        model, args.out, input_size=args.input_size, dynamic=not args.static, fp16=args.fp16
    )
    axes = ", ".join(report.dynamic_axes) or "none"
    sizes = ", ".join(f"{h}×{w}" for h, w in report.checked_sizes)
    print(
        f"wrote {report.path} (dynamic: {axes}); ONNX Runtime vs PyTorch at {sizes}: "
        f"max |Δ| {report.max_abs_diff:.1e} on logits up to ±{report.max_abs_logit:.3g}"
    )
    return 0


def predict(args: argparse.Namespace) -> int:
    """Run ``args.model`` on every input; returns the exit status."""
    from .factory import create_model, model_info

    if not 0.0 <= args.alpha <= 1.0:  # also refuses NaN
        raise ConfigError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"--device {args.device!r} cannot be used here: {exc}") from None
    info = model_info(args.model)
    overlay = {"file": args.weights} if args.weights else None
    model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
    model = model.to(device).eval()
    if args.backend != "pytorch":
        from .runtime import with_backend

        model = with_backend(model, args.backend)
    inputs = _inputs(args.inputs, args.out)
    if not inputs:
        raise ConfigError(f"No images or videos found in {' '.join(args.inputs)}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {args.out} cannot be created: {exc}") from None
    rows: list[dict[str, object]] = []
    failed = 0
    for path, stem in inputs:
        args.stem = args.out / stem
        try:
            args.stem.parent.mkdir(parents=True, exist_ok=True)
            if info.task == "classification":
                rows.append(_classify(model, path, args))
            elif path.suffix.lower() in VIDEO_SUFFIXES:
                rows.append(_video(model, path, args))
            else:
                rows.append(_segment(model, path, args))
        except (ZooError, OSError, RuntimeError, ValueError) as exc:  # one input, not the run
            failed += 1
            print(f"error: {path}: {' '.join(str(exc).split())}", file=sys.stderr)
    if rows:
        _write_csv(args.out / "predictions.csv", rows)
        print(f"wrote {len(rows)} result(s) and {args.out / 'predictions.csv'}")
    return 2 if failed else 0


def _classify(model: nn.Module, path: Path, args: argparse.Namespace) -> dict[str, object]:
    from .inference import classify

    top = classify(model, path, top_k=args.top_k)
    print(f"{path}: " + ", ".join(f"{label} {p:.3f}" for label, p in top))
    row: dict[str, object] = {"input": str(path)}
    for rank, (label, probability) in enumerate(top, start=1):
        row[f"top{rank}"] = f"{label} ({probability:.4f})"
    return row


def _stem(path: Path, args: argparse.Namespace) -> Path:
    return Path(args.stem)


def _segment(model: nn.Module, path: Path, args: argparse.Namespace) -> dict[str, object]:
    from PIL import Image

    from .segment import segment

    result = segment(model, path, mode=args.mode, tta=args.tta)
    stem = _stem(path, args)
    result.overlay(args.alpha).save(f"{stem}_overlay.png")
    if len(result.labels) <= 256:  # a palette PNG: class indices that also show in colour
        mask = Image.fromarray(result.mask.astype("uint8"), mode="P")
        mask.putpalette([value for colour in result.palette for value in colour])
    else:
        mask = Image.fromarray(result.mask)
    mask.save(f"{stem}_mask.png")
    shares = result.class_shares()
    top = ", ".join(f"{label} {share:.1%}" for label, share in list(shares.items())[:5])
    print(f"{path}: {top} ({result.latency_ms:.0f} ms)")
    return {
        "input": str(path),
        "width": result.image.width,
        "height": result.image.height,
        "latency_ms": round(result.latency_ms, 1),
        "overlay": f"{stem}_overlay.png",
        "classes": "; ".join(f"{k}={v:.4f}" for k, v in shares.items()),
    }


def _video(model: nn.Module, path: Path, args: argparse.Namespace) -> dict[str, object]:
    from .video import segment_video

    if args.tta or args.mode == "slide":
        print(f"note: {path}: --tta and --mode slide apply to images only", file=sys.stderr)
    out = Path(f"{_stem(path, args)}_overlay.mp4")
    result = segment_video(model, path, out, alpha=args.alpha, progress=False)
    note = " (cut at the length limit)" if result.truncated else ""
    rate = f"{result.processing_fps:.1f} frames/s"
    print(f"{path}: {result.frames} frames at {result.fps:g} fps, {rate}{note} -> {out}")
    return {
        "input": str(path),
        "width": result.size[0],
        "height": result.size[1],
        "frames": result.frames,
        "fps": result.fps,
        "processing_fps": round(result.processing_fps, 2),
        "overlay": str(out),
    }


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    from .atomic import atomic_write

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_write(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "predict":
            return predict(args)
        if args.command == "export":
            return export_command(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
