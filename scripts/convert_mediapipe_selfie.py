"""Convert MediaPipe Selfie Segmentation's TFLite graphs to the zoo's weights, and prove the port.

Run from a checkout, in the zoo's venv; MediaPipe itself lives in a throw-away venv (never in
the zoo's, it pins numpy < 2 and protobuf < 5)::

    python3 -m venv /tmp/mpenv
    /tmp/mpenv/bin/pip install mediapipe==0.10.21 --no-deps
    /tmp/mpenv/bin/pip install "numpy<2" "protobuf<5" opencv-python-headless absl-py attrs \\
        flatbuffers matplotlib scikit-image tflite
    python scripts/convert_mediapipe_selfie.py --mediapipe-python /tmp/mpenv/bin/python

The script has two halves, one per environment. ``extract`` runs under ``--mediapipe-python``
(numpy, ``tflite``, ``mediapipe``, OpenCV): it reads every convolution of each ``.tflite`` in
graph order with its fp16 weight buffer, and runs the official runtime
(``mp.solutions.selfie_segmentation.SelfieSegmentation``) on the photos it is given. The rest
runs here (torch, zoo): it maps the tensors onto :class:`zoo.models.mediapipe_selfie.
MediaPipeSelfie`, writes ``zoo/bundled/mediapipe_selfie_<tag>.safetensors`` (fp16), measures
the port against the runtime and writes the test fixture
``tests/zoo/data/mediapipe_selfie_golden.npz``.

Mapping rules (TFLite tensors → the module's state dict):

- Order: the graph's CONV_2D, DEPTHWISE_CONV_2D and ``Convolution2DTransposeBias`` operators,
  in execution order (``conv2d``, ``conv2d_1``, …, ``depthwise_conv2d_*``, ``segment`` /
  ``conv2d_transpose``), pair one to one with the module's ``nn.Conv2d`` /
  ``nn.ConvTranspose2d`` in registration order (stem, blocks with their SE, LR-ASPP head,
  decoder stages, classifier); every pair is checked for kind, shape and stride.
- CONV_2D kernels are ``[out, kh, kw, in]`` (NHWC) → ``Conv2d`` ``[out, in, kh, kw]``:
  ``permute(0, 3, 1, 2)``.
- DEPTHWISE_CONV_2D kernels are ``[1, kh, kw, C]`` (depth multiplier 1) → ``[C, 1, kh, kw]``
  with ``groups=C``: ``permute(3, 0, 1, 2)``.
- ``Convolution2DTransposeBias`` (MediaPipe's custom op; options ``padding=SAME, stride 2×2``)
  has kernel ``[out, kh, kw, in]`` → ``ConvTranspose2d`` ``[in, out, kh, kw]``:
  ``permute(3, 0, 1, 2)``. MediaPipe's kernel accumulates ``out[y·s + ky] += in[y] · w`` with
  no kernel flip, as PyTorch's transposed conv does; SAME with kernel = stride = 2 pads nothing.
  Its one output channel is the person logit; the module returns ``[0, logit]``.
- Biases are 1-D in both. Every weight is stored fp16 and cast to fp32 by a DEQUANTIZE
  operator at load time; the fp16 values are kept as they are (the safetensors are fp16, the
  zoo loads them into fp32), so the conversion itself is exact.
- The final LOGISTIC is not a layer: it is the softmax of ``[0, z]``.

How the runtime is fed (and matched): MediaPipe's ``ImageToTensorCalculator`` warps the uint8
RGB image to the model's size with OpenCV ``warpPerspective`` (INTER_LINEAR, BORDER_CONSTANT;
source pixel = destination · in/out, the aspect ratio not kept), scales to [0, 1], and
``TensorsToSegmentationCalculator`` resizes the model's probability map to the image size with
``cv2.resize`` (INTER_LINEAR). ``extract`` reproduces that warp with OpenCV and checks that the
runtime on the full photo equals ``cv2.resize`` of the runtime on the warped image (so the
native-size comparison sees exactly what the model saw). The port is compared at native size
on those warped images (max |Δ| of the person probability) and on the full photos with its own
resize (IoU of mask > 0.5, person shares). Nothing is post-processed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "zoo" / "bundled"
GOLDEN = ROOT / "tests" / "zoo" / "data" / "mediapipe_selfie_golden.npz"
MEDIAPIPE_VERSION = "0.10.21"
#: tag → (model_selection, .tflite file, native (height, width))
VARIANTS = {
    "general_256": (0, "selfie_segmentation.tflite", (256, 256)),
    "landscape_144x256": (1, "selfie_segmentation_landscape.tflite", (144, 256)),
}
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "grace_hopper")
#: Photos whose runtime masks become the test fixture (a person, a person, no person).
GOLDEN_PHOTOS = ("astronaut", "camera", "rocket")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias")


# --- extract: runs under the MediaPipe venv (numpy, tflite, mediapipe, cv2; no torch) ---------


def _op_name(model: Any, op: Any) -> str:
    import tflite

    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return code.CustomCode().decode()
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    return names[builtin]


def _buffer(model: Any, graph: Any, index: int, producers: dict[int, Any]) -> np.ndarray:
    """A constant tensor's values; a DEQUANTIZE output is read from its fp16 input buffer."""
    import tflite

    if index in producers:  # DEQUANTIZE: fp16 constant → fp32 at load time; keep the fp16
        index = int(producers[index].InputsAsNumpy()[0])
    tensor = graph.Tensors(index)
    dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}
    raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
    return np.frombuffer(raw.tobytes(), dtype[tensor.Type()]).reshape(tensor.ShapeAsNumpy())


def _conv_options(name: str, op: Any) -> dict[str, Any]:
    import tflite

    if name == "Convolution2DTransposeBias":  # TfLiteTransposeConvParams: padding, sw, sh
        padding, stride_w, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), "<i4")
        # TfLitePadding: 1 = SAME, 2 = VALID
        return dict(stride=(int(stride_h), int(stride_w)), same=int(padding) == 1, act=0)
    table = op.BuiltinOptions()
    options = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
    options.Init(table.Bytes, table.Pos)
    if name == "DEPTHWISE_CONV_2D" and options.DepthMultiplier() != 1:
        raise ValueError("depth multiplier != 1 is not part of this architecture")
    return dict(
        stride=(options.StrideH(), options.StrideW()),
        same=options.Padding() == tflite.Padding.SAME,
        act=options.FusedActivationFunction(),
        dilation=(options.DilationHFactor(), options.DilationWFactor()),
    )


def read_graph(path: Path) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], dict[str, int]]:
    """The convolutions of a ``.tflite`` in execution order: their metadata, their weights
    (``"{i}.weight"``/``"{i}.bias"``, TFLite layouts, fp16 as stored) and the operator counts."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    names = [_op_name(model, op) for op in ops]
    producers = {
        int(op.OutputsAsNumpy()[0]): op
        for op, name in zip(ops, names, strict=True)
        if name == "DEQUANTIZE"
    }
    counts: dict[str, int] = {}
    layers, arrays = [], {}
    for op, name in zip(ops, names, strict=True):
        counts[name] = counts.get(name, 0) + 1
        if name not in CONV_OPS:
            continue
        weight_index, bias_index = (int(i) for i in op.InputsAsNumpy()[1:3])
        index = len(layers)
        arrays[f"{index}.weight"] = _buffer(model, graph, weight_index, producers)
        arrays[f"{index}.bias"] = _buffer(model, graph, bias_index, producers)
        tensor_name = graph.Tensors(weight_index).Name().decode()
        layers.append(dict(op=name, name=tensor_name.split("/")[0], **_conv_options(name, op)))
    return layers, arrays, counts


def _warp(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """MediaPipe's ImageToTensorCalculator (OpenCV converter) resize, as uint8."""
    import cv2

    h, w = image.shape[:2]
    src = np.float32([[0, h], [0, 0], [w, 0], [w, h]])  # cv::boxPoints of the full-image ROI
    dst = np.float32([[0, height], [0, 0], [width, 0], [width, height]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def extract(inputs: Path, out: Path) -> None:
    """Graph tensors and official-runtime masks for every variant, into ``out`` (npz + json)."""
    import cv2
    import mediapipe as mp

    modules = Path(mp.__file__).parent / "modules" / "selfie_segmentation"
    given = dict(np.load(inputs))
    photos = {k.split(".", 1)[1]: v for k, v in given.items() if k.startswith("photo.")}
    report: dict[str, Any] = {"mediapipe": mp.__version__}
    arrays: dict[str, np.ndarray] = {}
    for variant, (selection, filename, (height, width)) in VARIANTS.items():
        path = modules / filename
        layers, weights, counts = read_graph(path)
        arrays.update({f"{variant}.w.{k}": v for k, v in weights.items()})
        consistency = {}
        segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection)
        with segmenter:
            for name, photo in photos.items():
                full = segmenter.process(photo).segmentation_mask
                warped = _warp(photo, height, width)
                native = segmenter.process(warped).segmentation_mask  # identity warp
                size = (photo.shape[1], photo.shape[0])
                resized = cv2.resize(native, size, interpolation=cv2.INTER_LINEAR)
                consistency[name] = float(np.abs(full - resized).max())
                arrays[f"{variant}.full.{name}"] = full
                arrays[f"{variant}.warped.{name}"] = warped
                arrays[f"{variant}.native.{name}"] = native
                golden = given.get(f"golden.{variant}.{name}")  # the fixture's input
                if golden is not None:
                    mask = segmenter.process(golden).segmentation_mask
                    arrays[f"{variant}.golden.{name}"] = mask
        report[variant] = dict(
            layers=layers,
            ops=counts,
            num_ops=sum(counts.values()),
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            bytes=path.stat().st_size,
            consistency=consistency,
        )
    np.savez(out.with_suffix(".npz"), **arrays)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))


# --- convert and compare: runs in the zoo's venv (torch, zoo) ----------------------------------


def load_photos() -> dict[str, np.ndarray]:
    """The package photos as uint8 RGB arrays (camera is grayscale: replicated to RGB)."""
    from PIL import Image
    from skimage import data

    photos = {}
    for name in PHOTOS:
        if name == "grace_hopper":
            from matplotlib import cbook

            with cbook.get_sample_data("grace_hopper.jpg") as file:
                image = np.asarray(Image.open(file).convert("RGB"))
        else:
            image = getattr(data, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        photos[name] = np.ascontiguousarray(image[..., :3])
    return photos


def golden_input(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The fixture's native-size input: PIL's bilinear resize to ``size`` = (height, width)."""
    from PIL import Image

    return np.asarray(Image.fromarray(photo).resize(size[::-1], Image.Resampling.BILINEAR))


def torch_weight(op: str, weight: np.ndarray) -> np.ndarray:
    """A TFLite kernel in PyTorch's layout (the rules are in the module docstring)."""
    if op == "CONV_2D":  # [O, kh, kw, I] → Conv2d [O, I, kh, kw]
        return weight.transpose(0, 3, 1, 2)
    # DEPTHWISE_CONV_2D [1, kh, kw, C] → [C, 1, kh, kw]; the transposed conv's
    # [O, kh, kw, I] → ConvTranspose2d [I, O, kh, kw]
    return weight.transpose(3, 0, 1, 2)


def graph_op(module: Any) -> str:
    """The TFLite operator a PyTorch conv module stands for."""
    from torch import nn

    if isinstance(module, nn.ConvTranspose2d):
        return "Convolution2DTransposeBias"
    return "DEPTHWISE_CONV_2D" if module.groups > 1 else "CONV_2D"


def state_dict_of(
    model: Any, layers: list[dict[str, Any]], weights: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The graph's weights as ``model``'s fp16 state dict, each pair of layers checked."""
    import torch
    from torch import nn

    modules = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    if len(modules) != len(layers):
        raise ValueError(f"{len(layers)} graph convolutions vs {len(modules)} in the module")
    state: dict[str, torch.Tensor] = {}
    for index, ((name, module), layer) in enumerate(zip(modules, layers, strict=True)):
        kernel = module.kernel_size[0]
        if (
            layer["op"] != graph_op(module)
            or tuple(layer["stride"]) != tuple(module.stride)
            or layer["act"] != 0
            or (kernel > 1 and not layer["same"])
        ):
            raise ValueError(f"{name} does not match graph layer {index}: {layer}")
        weight = torch.from_numpy(torch_weight(layer["op"], weights[f"{index}.weight"]).copy())
        bias = torch.from_numpy(weights[f"{index}.bias"].copy())
        if weight.shape != module.weight.shape or bias.shape != module.bias.shape:
            raise ValueError(f"{name}: graph {tuple(weight.shape)} vs {tuple(module.weight.shape)}")
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
        print(f"  {layer['name']:<22} {layer['op']:<27} → {name} {tuple(weight.shape)}")
    return state


def person_probability(model: Any, image: np.ndarray) -> np.ndarray:
    """The port's person probability ``(H, W)`` for a uint8 RGB image (no post-processing)."""
    import torch

    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        return model(x).softmax(1)[0, 1].numpy()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def run_extract(python: str, photos: dict[str, np.ndarray], tmp: Path) -> tuple[dict, dict]:
    inputs = {f"photo.{name}": photo for name, photo in photos.items()}
    for variant, (_, _, size) in VARIANTS.items():
        for name in GOLDEN_PHOTOS:
            inputs[f"golden.{variant}.{name}"] = golden_input(photos[name], size)
    np.savez(tmp / "inputs.npz", **inputs)
    command = [python, __file__, "extract", str(tmp / "inputs.npz"), str(tmp / "graph")]
    subprocess.run(command, check=True)
    report = json.loads((tmp / "graph.json").read_text())
    return report, dict(np.load(tmp / "graph.npz"))


def convert(python: str) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file

    import zoo
    from zoo.models.mediapipe_selfie import MediaPipeSelfie

    photos = load_photos()
    with tempfile.TemporaryDirectory(prefix="mediapipe-selfie-") as tmp:
        report, arrays = run_extract(python, photos, Path(tmp))
    WEIGHTS_DIR.mkdir(exist_ok=True)
    golden: dict[str, np.ndarray] = {}
    results: dict[str, Any] = {"mediapipe": report["mediapipe"]}
    for variant, (_, filename, size) in VARIANTS.items():
        graph = report[variant]
        print(f"\n{variant}: {filename} ({graph['bytes']:,} bytes, sha256 {graph['sha256']})")
        print(f"  {graph['num_ops']} operators: {graph['ops']}")
        weights = {
            k.split(".w.", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{variant}.w.")
        }
        model = MediaPipeSelfie(native_size=size).eval()
        state = state_dict_of(model, graph["layers"], weights)
        path = WEIGHTS_DIR / f"mediapipe_selfie_{variant}.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        path.chmod(0o644)  # package data: readable by everyone
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        params = sum(p.numel() for p in model.parameters())
        loaded = zoo.create_model(f"mediapipe_selfie.{variant}", pretrained=True).eval()
        for key, value in loaded.state_dict().items():
            if not torch.equal(value, model.state_dict()[key]):
                raise RuntimeError(f"{path} does not load back as converted: {key}")
        rows = {}
        for name, photo in photos.items():
            native = person_probability(model, arrays[f"{variant}.warped.{name}"])
            full = person_probability(loaded, photo)
            official = arrays[f"{variant}.full.{name}"]
            rows[name] = dict(
                max_abs_native=float(np.abs(native - arrays[f"{variant}.native.{name}"]).max()),
                iou_full=iou(full > 0.5, official > 0.5),
                share_port=float((full > 0.5).mean()),
                share_official=float((official > 0.5).mean()),
                runtime_consistency=graph["consistency"][name],
            )
        for name in GOLDEN_PHOTOS:
            official = arrays[f"{variant}.golden.{name}"]
            port = person_probability(model, golden_input(photos[name], size))
            rows[name]["max_abs_golden"] = float(np.abs(port - official).max())
            prefix = f"{variant}.{name}"
            golden[f"{prefix}.native"] = np.round(official * 65535).astype(np.uint16)
            golden[f"{prefix}.full"] = np.packbits(arrays[f"{variant}.full.{name}"] > 0.5)
            digest = hashlib.sha256(golden_input(photos[name], size).tobytes()).hexdigest()
            golden[f"{prefix}.input_sha256"] = np.array(digest)
        results[variant] = dict(
            params=params,
            bytes=path.stat().st_size,
            sha256=graph["sha256"],
            photos=rows,
            max_abs_native=max(r["max_abs_native"] for r in rows.values()),
            min_iou_full=min(r["iou_full"] for r in rows.values()),
        )
        _print_rows(rows)
    golden["info"] = np.array(json.dumps(_fixture_info(report)))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **golden)
    print(f"\nwrote {GOLDEN.relative_to(ROOT)} ({GOLDEN.stat().st_size:,} bytes)")
    return results


def _fixture_info(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "runtime": f"mediapipe {report['mediapipe']}, "
        "mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0 general, 1 "
        "landscape), process(uint8 RGB)",
        "native": "runtime mask (person probability) for the photo resized to the native size "
        "with PIL Image.resize(BILINEAR) (identity warp in the runtime); uint16 = round(p · "
        "65535); <prefix>.input_sha256 = sha256 of that uint8 HWC input",
        "full": "np.packbits(runtime mask > 0.5) for the full photo, row-major, photo shape",
        "photos": list(GOLDEN_PHOTOS),
    }


def _print_rows(rows: dict[str, dict[str, float]]) -> None:
    print(f"  {'photo':<13}{'max|Δ| native':>14}{'IoU full':>10}{'share port':>12}"
          f"{'share official':>16}")  # fmt: skip
    for name, row in rows.items():
        print(
            f"  {name:<13}{row['max_abs_native']:>14.2e}{row['iou_full']:>10.4f}"
            f"{row['share_port']:>12.3f}{row['share_official']:>16.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("extract", help="(internal) run under the MediaPipe venv")
    inner.add_argument("inputs", type=Path)
    inner.add_argument("out", type=Path)
    parser.add_argument(
        "--mediapipe-python",
        default="/tmp/mpenv/bin/python",
        help="python of a venv with mediapipe==0.10.21, tflite, opencv and numpy<2",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args.inputs, args.out)
        return 0
    results = convert(args.mediapipe_python)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
