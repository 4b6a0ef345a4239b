"""The zoo's command line: ``python -m zoo predict INPUT... --model NAME`` and
``python -m zoo export NAME --out model.onnx``.

``predict`` (see :mod:`zoo.predict`): classification models print their top-k classes;
segmentation models write a palette mask PNG and an overlay per image (an overlay MP4 per
video). Rows go to ``predictions.csv`` beside them; a rerun skips what is done, and under
``torchrun`` each rank takes its share. ``export``: writes an ONNX file checked against
PyTorch in ONNX Runtime.
Errors are one line each on stderr; the exit status is 2 when any input failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ZooError
from .images import SUPPORTED
from .predict import add_arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="run a model on images, folders and videos",
        description="Run a model on images (" + SUPPORTED + "), folders of them, and videos.",
    )
    add_arguments(predict)
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
    export.add_argument(
        "--int8", action="store_true", help="quantize to int8 (static, QDQ) after the check"
    )
    export.add_argument(
        "--calibration",
        type=Path,
        metavar="FOLDER",
        help="images to calibrate --int8 on (default: the example photos)",
    )
    export.add_argument("--force", action="store_true",
                        help="replace --out even when it is not an ONNX model")  # fmt: skip
    return parser


def export_command(args: argparse.Namespace) -> int:
    """Export ``args.model`` to ``args.out``; returns the exit status."""
    from .errors import ConfigError
    from .export import check_input_size, check_target, export
    from .factory import create_model, model_info

    check_target(args.out, args.force)  # before any loading: refusals come in seconds
    check_input_size(args.input_size, model_info(args.model).task)
    if args.calibration is not None and not args.int8:
        raise ConfigError("--calibration calibrates --int8; add --int8, or leave it out")
    if args.calibration is not None and not args.calibration.is_dir():
        raise ConfigError(f"--calibration must be a folder of images; {args.calibration} is not")
    overlay = {"file": args.weights} if args.weights else None
    model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
    report = export(
        model,
        args.out,
        input_size=args.input_size,
        dynamic=not args.static,
        fp16=args.fp16,
        force=args.force,
        quantize="int8" if args.int8 else None,
        calibration=args.calibration,
    )
    axes = ", ".join(report.dynamic_axes) or "none"
    sizes = ", ".join(f"{h}×{w}" for h, w in report.checked_sizes)
    print(
        f"wrote {report.path} (dynamic: {axes}); ONNX Runtime vs PyTorch at {sizes}: "
        f"max |Δ| {report.max_abs_diff:.1e} on logits up to ±{report.max_abs_logit:.3g}"
    )
    if report.quantization:
        q = report.quantization
        print(
            f"int8 (QDQ, calibrated on {q['calibration']}): agrees with the float graph on "
            f"{100 * q['agreement_with_float']:.1f} % of them, mean KL {q['kl_from_float']:.4f}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "predict":
            from .predict import predict

            return predict(args)
        if args.command == "export":
            return export_command(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
