"""Running models on ONNX Runtime, with the same pre- and post-processing as PyTorch.

:class:`ORTModel` (named after Hugging Face Optimum's ``ORTModel``) wraps an
``onnxruntime.InferenceSession`` of a file written by :func:`zoo.export` in an ``nn.Module``:
it carries the model's ``pretrained_cfg`` (labels, normalisation, resize policy, palette),
so :func:`zoo.classify`, :func:`zoo.segment` and :func:`zoo.segment_video` run it exactly as
they run the PyTorch model. :func:`with_backend` turns a PyTorch model into one, exporting it
once into a cache next to the Hugging Face cache (``$HF_HOME/vision-zoo/onnx``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
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

BACKENDS = ("pytorch", "onnxruntime", "auto")
#: Environment variable that moves the export cache.
CACHE_ENV = "ZOO_ONNX_CACHE"


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
        require("onnxruntime", "onnx")
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
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
        metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map)
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
        channels = self.session.get_inputs()[0].shape[1]
        self.in_chans = channels if isinstance(channels, int) else None

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
            (logits,) = self.session.run(None, {INPUT_NAME: array})
        else:  # a fixed-size export takes batches of one: run the items one by one
            logits = np.concatenate(
                [self.session.run(None, {INPUT_NAME: item[None]})[0] for item in array]
            )
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


def cached_export(model: nn.Module) -> Path:
    """The cached ONNX export of ``model``, exported (and checked) on first use; see
    :func:`cached_session` for one that is also loaded (and re-exported when damaged)."""
    cfg = cfg_dict(model)
    stem = str(cfg.get("architecture") or type(model).__name__)
    tag = cfg.get("tag")
    name = f"{stem}.{tag}" if tag else stem
    path = cache_dir() / f"{name}-{export_key(model)}.onnx"
    if not path.is_file():
        export(model, path)
    return path


def with_backend(model: nn.Module, backend: str | None) -> nn.Module:
    """The model to run for ``backend``.

    Args:
        model: A PyTorch model or an :class:`ORTModel`.
        backend: None: the model as given.
            ``"pytorch"``: the model itself (an :class:`ORTModel` is refused).
            ``"onnxruntime"``: its cached ONNX export in an :class:`ORTModel`.
            ``"auto"``: whichever :func:`fastest_backend` measured faster on this machine.

    Raises:
        ConfigError: Unknown backend, or an :class:`ORTModel` asked to run on PyTorch.
        MissingExtraError: ``onnxruntime`` is asked for but not installed.
    """
    if backend is None:
        return model
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(model, ORTModel):
        if backend == "pytorch":
            raise ConfigError("This model is an ONNX Runtime session; it cannot run on PyTorch.")
        return model
    if backend == "auto":
        backend = fastest_backend(model)
    if backend == "pytorch":
        return model
    require("onnxruntime", "onnx")
    session = _SESSIONS.get(model)
    if session is None:  # exported with the weights the model has now, then reused
        _SESSIONS[model] = session = cached_session(model)
    return session


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


_SESSIONS: weakref.WeakKeyDictionary[nn.Module, ORTModel] = weakref.WeakKeyDictionary()


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
    """The faster backend for ``model`` on this machine, measured once and remembered.

    PyTorch on a GPU, or when ``onnxruntime`` is not installed; otherwise the median of
    ``repeats`` timed batch-1 runs of each at :func:`timing_input_size` (after a warm-up run),
    the choice stored next to the export (keyed by cores, threads and that size) so later
    processes reuse it.
    """
    remembered = _CHOICES.get(model)
    if remembered is not None:
        return remembered
    device, _ = device_and_dtype(model)
    if device.type != "cpu" or not onnxruntime_available():
        return "pytorch"
    path = cached_export(model)
    size = timing_input_size(model)
    key = f"{os.cpu_count()}cpu-{torch.get_num_threads()}t-{size[2]}x{size[1]}"  # W×H
    choice_file = path.with_suffix(f".{key}.json")
    try:
        choice = str(json.loads(choice_file.read_text(encoding="utf-8"))["backend"])
        if choice in BACKENDS[:2]:
            _CHOICES[model] = choice
            return choice
    except (OSError, ValueError, KeyError, TypeError):
        pass
    x = torch.randn(1, *size)
    contenders: dict[str, Any] = {"pytorch": model.eval(), "onnxruntime": cached_session(model)}
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
