"""Running models on ONNX Runtime or OpenVINO, with the same pre- and post-processing as
PyTorch. Public as ``zoo.runtime`` (``zoo.ORTModel`` and ``zoo.fastest_backend`` are also in
the top-level namespace).

:class:`ORTModel` (named after Hugging Face Optimum's ``ORTModel``) wraps an
``onnxruntime.InferenceSession`` of a file written by :func:`zoo.export` in an ``nn.Module``:
it carries the model's ``pretrained_cfg`` (labels, normalisation, resize policy, palette),
so :func:`zoo.classify`, :func:`zoo.segment` and :func:`zoo.segment_video` run it exactly as
they run the PyTorch model; :class:`OVModel` runs the same file with OpenVINO.
:func:`with_backend` turns a PyTorch model into one, exporting it once into a cache next to
the Hugging Face cache (``$HF_HOME/vision-zoo/onnx``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import statistics
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .errors import ConfigError, require
from .export import INPUT_NAME, OPSET, export, read_metadata, record_of
from .meta import cfg_dict
from .pipeline import Preprocess, device_and_dtype

logger = logging.getLogger("zoo")

BACKENDS = ("pytorch", "onnxruntime", "openvino", "onnxruntime-int8", "openvino-int8", "auto")
#: The int8 backends: the model's cached int8 export (quantized on first use, calibrated on
#: the example photos of :mod:`zoo.examples`) on ONNX Runtime or OpenVINO.
INT8_BACKENDS = ("onnxruntime-int8", "openvino-int8")
#: The backends ``"auto"`` chooses among (float ones: int8 is chosen by the user, never here).
FLOAT_BACKENDS = ("pytorch", "onnxruntime", "openvino")
#: Environment variable that moves the export cache.
CACHE_ENV = "ZOO_ONNX_CACHE"


def openvino_available() -> bool:
    """Whether ``openvino`` and ``onnx`` import (the ``vision-zoo[openvino]`` extra)."""
    try:
        import onnx  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` and ``onnx`` import (the ``vision-zoo[onnx]`` extra)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class ORTModel(nn.Module):
    """An exported model run by ONNX Runtime: ``(B, 3, H, W) → logits`` like the original.

    Args:
        path: An ``.onnx`` file written by :func:`zoo.export`.
        providers: ONNX Runtime execution providers (default: CPU).
        threads: Intra-op threads (default: ``torch.get_num_threads()``, so both backends use
            the same cores).

    Attributes:
        pretrained_cfg: The exported model's cfg, with its zoo record under ``"zoo"``.
        num_classes: Output classes K.
        path: The file.
        backend: ``"onnxruntime"``.
        quantization: An int8 file's record (how it was quantized, what it was calibrated
            on, its agreement with the float graph there); None for a float file.

    Raises:
        MissingExtraError: ``onnxruntime`` is not installed.
        ConfigError: The file cannot be loaded or was not written by :func:`zoo.export`.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        metadata = self._open(threads or torch.get_num_threads(), providers)
        if "labels" not in metadata:
            raise ConfigError(f"{self.path} was not written by zoo.export (no zoo metadata).")
        self.metadata = metadata
        self.pretrained_cfg, _ = record_of(metadata)
        self.num_classes = int(self.pretrained_cfg["num_classes"])
        self.dynamic_axes = tuple(metadata.get("dynamic_axes") or ())
        quantization = metadata.get("quantization")
        self.quantization: dict[str, Any] | None = (
            quantization if isinstance(quantization, dict) else None
        )
        self._dtype = np.float16 if metadata.get("dtype") == "float16" else np.float32

    def _open(self, threads: int, providers: list[str] | None) -> dict[str, Any]:
        """Load :attr:`path` into this runtime; its zoo metadata (sets :attr:`in_chans`)."""
        require("onnxruntime", "onnx")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # no busy-waiting after a run: the pipeline's own pre- and post-processing uses these
        # cores between forward passes
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ConfigError(f"ONNX Runtime cannot load {self.path}: {exc}") from exc
        channels = self.session.get_inputs()[0].shape[1]
        self.in_chans = channels if isinstance(channels, int) else None
        return read_metadata(self.session.get_modelmeta().custom_metadata_map)

    def _infer(self, array: np.ndarray) -> np.ndarray:
        """The logits of a ``(B, C, H, W)`` array."""
        return self.session.run(None, {INPUT_NAME: array})[0]

    def forward(self, x: Tensor) -> Tensor:
        """Logits of a ``(B, C, H, W)`` batch (any device; computed on ONNX Runtime's).

        Raises:
            ConfigError: C or (for a fixed-size export) H, W differ from the file's.
        """
        if self.in_chans is not None and x.shape[1] != self.in_chans:
            raise ConfigError(
                f"{self.path.name} takes {self.in_chans}-channel inputs, got {x.shape[1]} "
                "channels (zoo.classify and zoo.segment feed RGB images)."
            )
        expected = self.fixed_size
        if expected is not None and tuple(x.shape[-2:]) != expected:
            raise ConfigError(
                f"{self.path.name} takes {expected[0]}×{expected[1]} inputs only "
                f"(exported without a dynamic size), got {tuple(x.shape[-2:])}."
            )
        array = x.detach().cpu().numpy().astype(self._dtype, copy=False)
        if "batch" in self.dynamic_axes or len(array) == 1:
            logits = self._infer(array)
        else:  # a fixed-size export takes batches of one: run the items one by one
            logits = np.concatenate([self._infer(item[None]) for item in array])
        return torch.from_numpy(logits.astype(np.float32, copy=False)).to(x.device)

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """``(H, W)`` when the export takes that size only (``dynamic=False``), else None."""
        if "height" in self.dynamic_axes:
            return None
        size = list(self.metadata["input_size"])
        return int(size[1]), int(size[2])

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, providers={self.session.get_providers()}"


@functools.cache
def _ov_core() -> Any:
    """The process's one OpenVINO ``Core``, kept alive as long as the process: compiled
    models must not outlive the core that made them (freed first, they crash the process
    when they are freed later)."""
    import openvino as ov

    return ov.Core()


class OVModel(ORTModel):
    """An exported model run by OpenVINO's runtime on the CPU: the same file, record and
    checks as :class:`ORTModel` (float or int8 exports alike); reached through
    ``backend="openvino"`` (see :func:`with_backend`).

    Args:
        path: An ``.onnx`` file written by :func:`zoo.export`.
        providers: Ignored (OpenVINO runs on its CPU device).
        threads: Inference threads (default: ``torch.get_num_threads()``).

    Raises:
        MissingExtraError: ``openvino`` is not installed (``vision-zoo[openvino]``).
        ConfigError: OpenVINO cannot read or compile the file, or it was not written by
            :func:`zoo.export`.
    """

    backend = "openvino"

    def _open(self, threads: int, providers: list[str] | None) -> dict[str, Any]:
        require("openvino", "openvino")
        require("onnx", "onnx")
        import onnx

        try:
            proto = onnx.load(str(self.path), load_external_data=False)
            core = _ov_core()
            graph = core.read_model(str(self.path))
            self.compiled = core.compile_model(  # float32 as recorded: on CPUs with AMX
                # OpenVINO would otherwise compute in bfloat16 (logits off by ~10 %)
                graph,
                "CPU",
                {
                    "INFERENCE_NUM_THREADS": threads,
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "f32",
                },
            )
        except Exception as exc:  # OpenVINO and onnx raise their own types
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"OpenVINO cannot load {self.path}: {cause}") from exc
        channels = proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
        self.in_chans = int(channels) or None
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: one run at a time
        return read_metadata(proto)

    def _infer(self, array: np.ndarray) -> np.ndarray:
        with self._lock:
            result = self._request.infer({0: np.ascontiguousarray(array)})
            return np.asarray(result[self.compiled.output(0)]).copy()

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, device='CPU' (OpenVINO)"


def cache_dir() -> Path:
    """Where exports are kept: ``$ZOO_ONNX_CACHE``, else ``$HF_HOME/vision-zoo/onnx``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "vision-zoo" / "onnx"


def export_key(model: nn.Module) -> str:
    """A content hash of a model: its class, cfg, weights and the software that exports it
    (a changed weight, zoo, torch or opset means a new export)."""
    digest = hashlib.sha256()
    cfg = {k: v for k, v in cfg_dict(model).items() if k != "zoo"}
    header = [type(model).__qualname__, _zoo_version(), torch.__version__, OPSET]
    digest.update(json.dumps([header, cfg], default=str, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def _zoo_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vision-zoo")
    except PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


def cached_export(model: nn.Module, int8: bool = False) -> Path:
    """The cached ONNX export of ``model``, exported (and checked) on first use; see
    :func:`cached_session` for one that is also loaded (and re-exported when damaged).
    ``int8``: its int8 export instead, calibrated on the example photos (see
    :func:`zoo.export`)."""
    cfg = cfg_dict(model)
    stem = str(cfg.get("architecture") or type(model).__name__)
    tag = cfg.get("tag")
    name = f"{stem}.{tag}" if tag else stem
    path = cache_dir() / f"{name}-{export_key(model)}{'-int8' if int8 else ''}.onnx"
    if not path.is_file():
        export(model, path, quantize="int8" if int8 else None)
    return path


def with_backend(model: nn.Module, backend: str | None) -> nn.Module:
    """The model to run for ``backend``.

    Args:
        model: A PyTorch model, an :class:`ORTModel` or an :class:`OVModel`.
        backend: None: the model as given.
            ``"pytorch"``: the model itself (an exported model is refused).
            ``"onnxruntime"``: its cached ONNX export in an :class:`ORTModel`.
            ``"openvino"``: the same export run by OpenVINO (:class:`OVModel`).
            ``"onnxruntime-int8"``, ``"openvino-int8"``: its cached int8 export (quantized
            on first use, calibrated on the example photos), on either runtime; an exported
            file must be an int8 one already.
            ``"auto"``: whichever :func:`fastest_backend` measured fastest on this machine
            (float backends only).

    Raises:
        ConfigError: Unknown backend, an exported model asked to run on PyTorch, a float
            file asked to run as int8, or no example photos to calibrate on.
        MissingExtraError: ``onnxruntime`` or ``openvino`` is asked for but not installed.
    """
    if backend is None:
        return model
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(model, ORTModel):  # an exported file: run it on the runtime asked for
        if backend == "pytorch":
            raise ConfigError(
                f"This model is an ONNX file run by {model.backend}; it cannot run on PyTorch."
            )
        if backend in INT8_BACKENDS and model.quantization is None:
            raise ConfigError(
                f"{model.path.name} is a float export; quantize the model with "
                "zoo.export(model, path, quantize='int8') and run that file."
            )
        runtime_name = backend.removesuffix("-int8")
        if backend == "auto" or runtime_name == model.backend:
            return model
        return _exported(model.path, runtime_name)
    if backend == "auto":
        backend = fastest_backend(model)
    if backend == "pytorch":
        return model
    if backend in ("openvino", "openvino-int8"):
        require("openvino", "openvino")
    else:
        require("onnxruntime", "onnx")
    runners = _RUNNERS.setdefault(model, {})
    if backend not in runners:  # exported with the weights the model has now, then reused
        if backend == "onnxruntime":
            runners[backend] = cached_session(model)
        elif backend == "openvino":
            runners[backend] = OVModel(cached_export(model))
        else:
            runners[backend] = _exported(cached_export(model, int8=True), backend[: -len("-int8")])
    return runners[backend]


def _exported(path: Path, backend: str) -> ORTModel:
    return OVModel(path) if backend == "openvino" else ORTModel(path)


def cached_session(model: nn.Module) -> ORTModel:
    """An :class:`ORTModel` of ``model``'s cached export. A cached file that ONNX Runtime
    cannot load (truncated, emptied, overwritten) is exported again, with a warning on the
    ``zoo`` logger that names it."""
    path = cached_export(model)
    try:
        return ORTModel(path)
    except ConfigError as exc:
        logger.warning(
            "The cached ONNX export %s is damaged (%s); exporting it again.",
            path, str(exc).splitlines()[0][:200],
        )  # fmt: skip
        export(model, path, force=True)
        return ORTModel(path)


#: Per model, its runner on each exported backend.
_RUNNERS: weakref.WeakKeyDictionary[nn.Module, dict[str, ORTModel]] = weakref.WeakKeyDictionary()


#: The photo size (width, height) a segmentation model is timed at: what a webcam frame or a
#: phone photo reduced for the screen gives. A model that resizes inside its graph takes the
#: frame as it is, so timing it at its nominal ``input_size`` would time a different graph.
TIMING_PHOTO = (640, 480)


def timing_input_size(model: nn.Module) -> tuple[int, int, int]:
    """The input :func:`fastest_backend` times ``model`` at.

    Args:
        model: A zoo or timm model (one without a ``pretrained_cfg`` is timed at 224×224).

    Returns:
        ``(3, H, W)``: a classifier's ``input_size`` (it always sees its crop); for a
        segmentation model, what its test-time resize makes of a :data:`TIMING_PHOTO` (the
        640×480 photo itself for a model that resizes internally: ``(3, 480, 640)``).
    """
    nominal = tuple(int(v) for v in (cfg_dict(model).get("input_size") or (3, 224, 224)))
    try:
        preprocess = Preprocess.of(model)
    except ConfigError:
        return nominal  # type: ignore[return-value]
    if preprocess.task != "segmentation":
        return nominal  # type: ignore[return-value]
    width, height = preprocess.input_size(*TIMING_PHOTO)
    return (3, height, width)


def fastest_backend(model: nn.Module, repeats: int = 3) -> str:
    """The fastest float backend for ``model`` on this machine, measured once and remembered.

    PyTorch on a GPU, or when ``onnxruntime`` is not installed; otherwise the median of
    ``repeats`` timed batch-1 runs of PyTorch, ONNX Runtime and (when ``openvino`` is
    installed) OpenVINO at :func:`timing_input_size` (after a warm-up run), the choice stored
    next to the export (keyed by cores, threads, that size and the runtimes raced) so later
    processes reuse it. Never an int8 file: that is the user's choice.
    """
    remembered = _CHOICES.get(model)
    if remembered is not None:
        return remembered
    device, _ = device_and_dtype(model)
    if device.type != "cpu" or not onnxruntime_available():
        return "pytorch"
    path = cached_export(model)
    size = timing_input_size(model)
    raced = "ov" if openvino_available() else "ort"
    key = f"{os.cpu_count()}cpu-{torch.get_num_threads()}t-{size[2]}x{size[1]}-{raced}"  # W×H
    choice_file = path.with_suffix(f".{key}.json")
    try:
        choice = str(json.loads(choice_file.read_text(encoding="utf-8"))["backend"])
        if choice in FLOAT_BACKENDS and (choice != "openvino" or openvino_available()):
            _CHOICES[model] = choice
            return choice
    except (OSError, ValueError, KeyError, TypeError):
        pass
    x = torch.randn(1, *size)
    contenders: dict[str, Any] = {"pytorch": model.eval(), "onnxruntime": cached_session(model)}
    if openvino_available():
        try:
            contenders["openvino"] = with_backend(model, "openvino")
        except ConfigError as exc:  # a graph OpenVINO cannot compile: the other two race
            logger.warning("OpenVINO cannot run %s: %s", path.name, str(exc)[:200])
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with torch.inference_mode():
        for runner in contenders.values():
            runner(x)  # warm-up
        for _ in range(repeats):
            for name, runner in contenders.items():
                start = time.perf_counter()
                runner(x)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    choice = min(medians, key=lambda name: medians[name])
    from .atomic import atomic_write

    with atomic_write(choice_file, "w") as out:
        json.dump({"backend": choice, "seconds": medians, "input_size": list(size)}, out)
    _CHOICES[model] = choice
    return choice


_CHOICES: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
