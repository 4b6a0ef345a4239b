"""The zoo's command line: ``python -m zoo predict INPUT... --model NAME`` and
``python -m zoo export NAME --out model.onnx``.

``predict``: classification models print their top-k classes; segmentation models write an
overlay and a palette mask PNG per image (an overlay MP4 per video). A CSV summary goes beside
them. ``export``: writes an ONNX file checked against PyTorch in ONNX Runtime.
Errors are one line each on stderr; the exit status is 2 when any input failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from .errors import ConfigError, ZooError
from .images import SUPPORTED

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def _inputs(paths: Sequence[str], out: Path) -> list[tuple[Path, Path]]:
    """``(file, output stem)`` pairs: files as given, and the images and videos inside folders
    (sorted, recursive, hidden files and the output folder skipped). Stems mirror a file's
    place inside its folder (``a/x.png`` → ``OUT/a/x``).

    Raises:
        ConfigError: An input folder is the output folder or inside it (its images could not
            be told from outputs).
    """
    found: list[tuple[Path, Path]] = []
    out = out.resolve()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if path.resolve().is_relative_to(out):
                raise ConfigError(
                    f"--out {out} is the input folder {raw} or holds it, so its images would "
                    "mix with the outputs; choose an --out outside the input folder."
                )
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
    return found


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
    export.add_argument("--force", action="store_true",
                        help="replace --out even when it is not an ONNX model")  # fmt: skip
    return parser


def export_command(args: argparse.Namespace) -> int:
    """Export ``args.model`` to ``args.out``; returns the exit status."""
    from .export import check_input_size, check_target, export
    from .factory import create_model, model_info

    check_target(args.out, args.force)  # before any loading: refusals come in seconds
    check_input_size(args.input_size, model_info(args.model).task)
    overlay = {"file": args.weights} if args.weights else None
    model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
    report = export(
        model,
        args.out,
        input_size=args.input_size,
        dynamic=not args.static,
        fp16=args.fp16,
        force=args.force,
    )
    axes = ", ".join(report.dynamic_axes) or "none"
    sizes = ", ".join(f"{h}×{w}" for h, w in report.checked_sizes)
    print(
        f"wrote {report.path} (dynamic: {axes}); ONNX Runtime vs PyTorch at {sizes}: "
        f"max |Δ| {report.max_abs_diff:.1e} on logits up to ±{report.max_abs_logit:.3g}"
    )
    return 0


#: The columns of ``predictions.csv`` (one row per input and run; output paths are relative
#: to the folder, ``classes`` holds class shares or top-k probabilities as ``label=value``).
COLUMNS = ("input", "model", "task", "width", "height", "latency_ms", "classes", "overlay",
           "mask", "frames", "fps", "processing_fps")  # fmt: skip


def predict(args: argparse.Namespace) -> int:
    """Run ``args.model`` on every input; returns the exit status."""
    from .atomic import Temporary
    from .factory import create_model, model_info
    from .manifest import Manifest

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
    if info.task == "classification" and args.mode != "auto":
        raise ConfigError(f"--mode applies to segmentation models; {args.model} is a classifier")
    inputs = _inputs(args.inputs, args.out)
    if not inputs:
        raise ConfigError(f"No images or videos found in {' '.join(args.inputs)}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        with Temporary(args.out / "predictions.csv"):  # can the folder take our writes?
            pass
        manifest = Manifest(args.out, COLUMNS)
    except OSError as exc:
        raise ConfigError(f"--out {args.out} cannot be written: {exc.strerror or exc}") from None
    overlay = {"file": args.weights} if args.weights else None
    model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
    model = model.to(device).eval()
    if args.backend != "pytorch":
        from .runtime import with_backend

        model = with_backend(model, args.backend)
    outputs = _Outputs(args.out, manifest, args.model)
    written = failed = 0
    for path, stem in inputs:
        try:
            if info.task == "classification":
                row = _classify(model, path, args)
            elif path.suffix.lower() in VIDEO_SUFFIXES:
                row = _video(model, path, outputs.claim(path, stem, ["_overlay.mp4"]), args)
            else:
                row = _segment(model, path, outputs.claim(path, stem, ["_overlay.png",
                               "_mask.png"]), args)  # fmt: skip
            manifest.append([{"input": str(path.resolve()), "model": args.model,
                              "task": info.task, **row}])  # fmt: skip
            written += 1
        except (ZooError, OSError, RuntimeError, ValueError) as exc:  # one input, not the run
            failed += 1
            print(f"error: {_shown(path)}: {' '.join(_shown(exc).split())}", file=sys.stderr)
    if written:
        print(f"wrote {written} result(s); rows appended to {_shown(manifest.path)}")
    return 2 if failed else 0


class _Outputs:
    """Names outputs so that nothing is overwritten that this input did not write before.

    An output name is free when no file has it, or when ``predictions.csv`` says that the same
    input file wrote it with the same model (a rerun replaces its own outputs). Otherwise, and
    for a second input of the same stem in one run, the stem gets ``-2``, ``-3``, ...: a
    user's own file, or another input's or model's result, is never replaced.
    """

    def __init__(self, out: Path, manifest: Any, model: str) -> None:
        self.out, self.model = out, model
        self.owners: dict[str, tuple[str, str]] = {}  # output (relative) -> (input, model)
        for row in manifest.rows():
            for column in ("overlay", "mask"):
                if row.get(column):
                    self.owners[row[column]] = (row.get("input", ""), row.get("model", ""))
        self.taken: set[str] = set()

    def claim(self, source: Path, stem: Path, endings: list[str]) -> _Claim:
        """The output stem for ``source`` (relative to the folder) and which of its files
        may be replaced."""
        owner = (str(source.resolve()), self.model)
        candidate, n = stem, 1
        while True:
            names = [f"{candidate.as_posix()}{ending}" for ending in endings]
            mine = {name for name in names if self.owners.get(name) == owner}
            free = all(name in mine or not os.path.lexists(self.out / name) for name in names)
            if free and not self.taken & set(names):
                self.taken.update(names)
                return _Claim(self.out, candidate, mine)
            n += 1
            candidate = stem.with_name(f"{stem.name}-{n}")


@dataclass(frozen=True)
class _Claim:
    """Where one input's outputs go: ``out / stem + ending``; ``replace`` names the ones
    this input wrote in an earlier run."""

    out: Path
    stem: Path
    replace: set[str]

    def name(self, ending: str) -> str:
        return f"{self.stem.as_posix()}{ending}"

    def path(self, ending: str) -> Path:
        return self.out / self.name(ending)

    @contextmanager
    def open(self, ending: str) -> Iterator[IO[bytes]]:
        """An atomic write of one output; a file that appeared meanwhile is never replaced."""
        from .atomic import atomic_write

        try:
            with atomic_write(self.path(ending), replace=self.name(ending) in self.replace,
                              fsync=False) as file:  # fmt: skip
                yield file
        except FileExistsError:
            raise ConfigError(
                f"{self.path(ending)} was created by someone else meanwhile; it is left as it "
                "is. Run again to write this input's result under another name."
            ) from None
        except OSError as exc:  # not the temporary's name: the file the user asked for
            raise ConfigError(f"cannot write {self.path(ending)}: {exc.strerror or exc}") from None


def _shown(value: object) -> str:
    """``value`` as text that prints on one line in any terminal: bytes of a file name that
    are not UTF-8 as ``\\xff``, newlines as ``\\n``."""
    text = os.fsencode(str(value)).decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _classify(model: nn.Module, path: Path, args: argparse.Namespace) -> dict[str, object]:
    from .inference import classify

    top = classify(model, path, top_k=args.top_k, tta=args.tta)
    print(f"{_shown(path)}: " + ", ".join(f"{label} {p:.3f}" for label, p in top))
    return {"classes": "; ".join(f"{label}={p:.4f}" for label, p in top)}


def _segment(
    model: nn.Module, path: Path, claim: _Claim, args: argparse.Namespace
) -> dict[str, object]:
    from PIL import Image

    from .segment import segment

    result = segment(model, path, mode=args.mode, tta=args.tta)
    if len(result.labels) <= 256:  # a palette PNG: class indices that also show in colour
        mask = Image.fromarray(result.mask.astype("uint8"), mode="P")
        mask.putpalette([value for colour in result.palette for value in colour])
    else:
        mask = Image.fromarray(result.mask)
    with claim.open("_overlay.png") as file:
        result.overlay(args.alpha).save(file, format="PNG")
    with claim.open("_mask.png") as file:
        mask.save(file, format="PNG")
    shares = result.class_shares()
    top = ", ".join(f"{label} {share:.1%}" for label, share in list(shares.items())[:5])
    print(f"{_shown(path)}: {top} ({result.latency_ms:.0f} ms)")
    return {
        "width": result.image.width,
        "height": result.image.height,
        "latency_ms": round(result.latency_ms, 1),
        "overlay": claim.name("_overlay.png"),
        "mask": claim.name("_mask.png"),
        "classes": "; ".join(f"{k}={v:.4f}" for k, v in shares.items()),
    }


def _video(
    model: nn.Module, path: Path, claim: _Claim, args: argparse.Namespace
) -> dict[str, object]:
    from .video import segment_video

    if args.tta or args.mode == "slide":
        print(f"note: {_shown(path)}: --tta and --mode slide apply to images only", file=sys.stderr)
    out = claim.path("_overlay.mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = segment_video(model, path, out, alpha=args.alpha, progress=False,
                           overwrite=claim.name("_overlay.mp4") in claim.replace)  # fmt: skip
    note = " (cut at the length limit)" if result.truncated else ""
    rate = f"{result.processing_fps:.1f} frames/s"
    print(f"{_shown(path)}: {result.frames} frames at {result.fps:g} fps, {rate}{note} -> "
          f"{_shown(out)}")  # fmt: skip
    shares: dict[str, float] = {}
    for frame in result.class_shares:
        for label, share in frame.items():
            shares[label] = shares.get(label, 0.0) + share / max(len(result.class_shares), 1)
    return {
        "width": result.size[0],
        "height": result.size[1],
        "frames": result.frames,
        "fps": round(result.fps, 3),
        "processing_fps": round(result.processing_fps, 2),
        "overlay": claim.name("_overlay.mp4"),
        "classes": "; ".join(
            f"{k}={v:.4f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
        ),
    }


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
