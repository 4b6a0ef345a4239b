"""``python -m zoo predict``: a model over many files, streaming, resumable and sharded.

Images flow through :mod:`zoo.pipeline`: a ``DataLoader`` decodes and resizes them (in
``--workers`` processes), same-size inputs are batched (``--batch-size``) for the forward pass,
and a pool of threads turns scores into masks, encodes the outputs and writes them, while the
next batch runs. Memory stays flat however many inputs there are: at most a few batches are in
flight.

Each batch's outputs are written to locked temporaries, its rows are appended to the manifest
(``predictions.csv``) in one write, and only then are the outputs renamed into place. A rerun
into the same ``--out`` skips every input whose row and outputs are all there, and redoes the
rest, so a killed run loses at most the batches in flight; a row whose outputs are missing is
redone under the same names.

Under a launcher (``torchrun``, ``accelerate launch``: ``RANK``/``WORLD_SIZE`` set), rank r
takes inputs r, r + N, r + 2N, ... of the sorted list, writes its own outputs and its own
manifest part (``predictions.part-r.csv``), and after all ranks are done rank 0 appends the
parts' rows to ``predictions.csv`` and removes the parts. Parts left by a killed run are merged
by the next run.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from .atomic import Temporary
from .errors import ConfigError, ZooError
from .manifest import Manifest
from .meta import meta_of
from .pipeline import Shard

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
#: What ``--save`` can ask for (segmentation models).
SAVES = ("mask", "overlay", "probs")
OVERLAY_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
#: The columns of ``predictions.csv`` (one row per input and run; output paths are relative
#: to the folder, ``classes`` holds class shares or top-k probabilities as ``label=value``).
COLUMNS = ("input", "model", "task", "width", "height", "latency_ms", "classes", "overlay",
           "mask", "probs", "frames", "fps", "processing_fps")  # fmt: skip
OUTPUT_COLUMNS = ("overlay", "mask", "probs")
MANIFEST = "predictions.csv"
#: Batches whose outputs may be in the writer threads at once (bounds memory).
IN_FLIGHT = 2
#: zlib level of the PNGs written (1: about 10× faster than Pillow's default 6, files ~20 %
#: larger; masks of few classes compress well at any level).
PNG_LEVEL = 1


def add_arguments(predict: argparse.ArgumentParser) -> None:
    """The ``predict`` command's options."""
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image, video or folder")
    predict.add_argument(
        "--model",
        required=True,
        help="zoo name, local-dir:PATH, hf-hub:ID or an .onnx file written by python -m zoo "
        "export (float or int8; runs on ONNX Runtime)",
    )
    predict.add_argument("--weights", help="a local weight file for a registered tag")
    predict.add_argument("--out", default="predictions", type=Path, help="output folder")
    predict.add_argument("--save", default="mask,overlay",
                         help="segmentation outputs, comma-separated: mask (palette PNG), "
                         "overlay, probs (float16 .npy, K×H×W); default mask,overlay")  # fmt: skip
    predict.add_argument("--overlay-format", choices=sorted(OVERLAY_FORMATS), default="png")
    predict.add_argument("--tta", choices=["flip"], help="test-time augmentation")
    predict.add_argument("--mode", choices=["auto", "whole", "slide"], default="auto")
    predict.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0–1")
    predict.add_argument("--top-k", type=int, default=5, help="classes kept (classifiers)")
    predict.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    predict.add_argument("--workers", type=int, default=None,
                         help="decoding processes (default: 2 when there are more than 16 "
                         "images and 4+ cores, else 0 = in this process)")  # fmt: skip
    predict.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    predict.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                         help="autocast precision of PyTorch models (fp16 on GPUs)")  # fmt: skip
    predict.add_argument("--backend", choices=["pytorch", "onnxruntime", "openvino",
                                               "onnxruntime-int8", "openvino-int8", "auto"],
                         help="PyTorch (the default for a name), or the ONNX export run "
                         "by ONNX Runtime (the default for an .onnx --model) or OpenVINO, "
                         "or its int8 export (quantized on first use); auto: the fastest "
                         "float backend here")  # fmt: skip
    predict.add_argument("--redo", action="store_true",
                         help="run inputs that are already done again (their outputs are "
                         "replaced); by default a rerun skips them")  # fmt: skip
    predict.add_argument("--quiet", action="store_true", help="no line per input")


def find_inputs(paths: Sequence[str], out: Path) -> list[tuple[Path, Path]]:
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


def shown(value: object) -> str:
    """``value`` as text that prints on one line in any terminal: bytes of a file name that
    are not UTF-8 as ``\\xff``, newlines as ``\\n``."""
    text = os.fsencode(str(value)).decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _saves(args: argparse.Namespace, task: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in str(args.save).split(",") if k.strip()))
    unknown = [k for k in kinds if k not in SAVES]
    if unknown or not kinds:
        raise ConfigError(f"--save takes a comma-separated subset of {','.join(SAVES)}, "
                          f"got {args.save!r}")  # fmt: skip
    return kinds if task == "segmentation" else ()


def _check(args: argparse.Namespace) -> torch.device:
    if not 0.0 <= args.alpha <= 1.0:  # also refuses NaN
        raise ConfigError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {args.workers}")
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    try:
        device = torch.device(args.device)
        if device.type == "cuda" and device.index is None and Shard.from_env().world > 1:
            device = torch.device("cuda", Shard.from_env().local_rank)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"--device {args.device!r} cannot be used here: {exc}") from None
    if args.precision == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 needs a GPU; on a CPU use bf16 or fp32.")
    return device


def predict(args: argparse.Namespace) -> int:
    """Run ``args.model`` on every input of this process's share; returns the exit status."""
    from .factory import create_model, model_info

    device = _check(args)
    shard = Shard.from_env()
    exported = _exported(args)
    args.backend = args.backend or ("onnxruntime" if exported else "pytorch")
    task = meta_of(exported).task if exported else model_info(args.model).task
    if task == "classification" and args.mode != "auto":
        raise ConfigError(f"--mode applies to segmentation models; {args.model} is a classifier")
    saves = _saves(args, task)
    inputs = find_inputs(args.inputs, args.out)
    if not inputs:
        raise ConfigError(f"No images or videos found in {' '.join(args.inputs)}")
    results = Results.open(args.out, shard, args.model, saves)
    endings = _endings(args, saves)
    # every rank names every input's outputs the same way, from the same sorted list
    claims = results.claim_all(inputs, lambda path: _wanted(path, endings, task))
    share = shard.take(inputs)
    todo = [(p, claims[p]) for p, _ in share
            if args.redo or not results.complete(p, _wanted(p, endings, task))]  # fmt: skip
    if len(share) > len(todo) and not args.quiet:
        print(f"skipping {len(share) - len(todo)} input(s) already done in {shown(args.out)}")
    failed = written = 0
    if todo:
        if device.type == "cuda":
            torch.cuda.set_device(device)  # pinned memory and kernels on this rank's GPU
        if exported is not None:
            model: nn.Module = exported
        else:
            overlay = {"file": args.weights} if args.weights else None
            model = create_model(args.model, pretrained=True, pretrained_cfg_overlay=overlay)
            model = model.to(device).eval()
        if args.backend != "pytorch":
            from .runtime import with_backend

            model = with_backend(model, args.backend)
        images = [(p, c) for p, c in todo if p.suffix.lower() not in VIDEO_SUFFIXES]
        videos = [(p, c) for p, c in todo if p.suffix.lower() in VIDEO_SUFFIXES]
        run = _Run(model, args, task, saves, results, endings)
        written, failed = run.images(images, device)
        for path, claim in videos:
            ok = run.video(path, claim)
            written, failed = written + ok, failed + (not ok)
    failed_anywhere = results.finish(shard, failed)
    if written and not args.quiet:
        print(f"wrote {written} result(s); rows appended to {shown(results.manifest.path)}")
    return 2 if failed_anywhere else 0


def _exported(args: argparse.Namespace) -> nn.Module | None:
    """``--model`` as an exported ONNX file, loaded in ONNX Runtime (None for a model name).

    Raises:
        ConfigError: ``--weights``, ``--backend pytorch``, ``--precision`` or a GPU asked of
            a file that runs on ONNX Runtime's CPU provider; not a zoo export.
    """
    if not args.model.lower().endswith(".onnx"):
        return None
    path = Path(args.model)
    if not path.is_file():
        raise ConfigError(f"--model {args.model}: no such file")
    clashes = [flag for flag, given in (("--weights", args.weights),
               ("--backend pytorch", args.backend == "pytorch"),
               ("--precision " + args.precision, args.precision != "fp32"),
               ("--device " + args.device, args.device != "cpu")) if given]  # fmt: skip
    if clashes:
        raise ConfigError(
            f"--model {path.name} is an ONNX file (it runs on ONNX Runtime's CPU provider); "
            f"leave out {', '.join(clashes)}"
        )
    from .runtime import ORTModel

    return ORTModel(path)


def _endings(args: argparse.Namespace, saves: Sequence[str]) -> dict[str, str]:
    """Output file endings per kind (``mask`` → ``_mask.png``), for the kinds saved."""
    every = {"mask": "_mask.png", "overlay": f"_overlay.{args.overlay_format}",
             "probs": "_probs.npy"}  # fmt: skip
    return {kind: every[kind] for kind in saves}


def _wanted(path: Path, endings: dict[str, str], task: str) -> dict[str, str]:
    """The outputs one input gets: kind → ending (a video: its overlay MP4; a classifier's
    input: none, its row is the result)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return {"overlay": "_overlay.mp4"} if task == "segmentation" else {}
    return dict(endings)


class Results:
    """The manifest of ``--out`` (and its parts): which inputs are done, who owns which output
    name, and where this process appends.

    An output name is free when no file has it, or when a row says that the same input wrote
    it with the same model (a rerun replaces its own outputs). Otherwise, and for a second input
    of the same stem in one run, the stem gets ``-2``, ``-3``, ...: a user's own file, or
    another input's or model's result, is never replaced.
    """

    def __init__(self, out: Path, manifest: Manifest, model: str, rows: list[dict[str, str]]):
        self.out, self.manifest, self.model = out, manifest, model
        self.owners: dict[str, tuple[str, str]] = {}  # output (relative) -> (input, model)
        self.done: dict[str, dict[str, str]] = {}  # input -> its last row with this model
        for row in rows:
            for column in OUTPUT_COLUMNS:
                if row.get(column):
                    self.owners[row[column]] = (row.get("input", ""), row.get("model", ""))
            if row.get("model") == model:
                self.done[row.get("input", "")] = row
        self.taken: set[str] = set()

    @classmethod
    def open(cls, out: Path, shard: Shard, model: str, saves: Sequence[str] = ()) -> Results:
        """The results of ``out`` (created if missing) for ``model``.

        Raises:
            ConfigError: ``out`` cannot be written.
        """
        try:
            out.mkdir(parents=True, exist_ok=True)
            with Temporary(out / MANIFEST):  # can the folder take our writes?
                pass
            # a table written by an earlier zoo (without the probs column) is kept appending to
            # unless probs are asked for
            optional = () if "probs" in saves else ("probs",)
            main = Manifest(out, COLUMNS, MANIFEST, optional=optional)
            own = main
            if shard.world > 1:
                own = Manifest(out, COLUMNS, _part_name(shard.rank), optional=optional)
        except OSError as exc:
            raise ConfigError(f"--out {out} cannot be written: {exc.strerror or exc}") from None
        rows = main.rows() + [row for part in _parts(out) for row in part.rows()]
        return cls(out, own, model, rows)

    def complete(self, source: Path, wanted: dict[str, str]) -> bool:
        """Whether ``source`` has a row with this model whose ``wanted`` outputs (kind →
        ending) are all recorded, with those endings, and exist."""
        row = self.done.get(str(source.resolve()))
        if row is None:
            return False
        return all(
            row.get(kind, "").endswith(ending) and (self.out / row[kind]).is_file()
            for kind, ending in wanted.items()
        )

    def claim(self, source: Path, stem: Path, endings: Sequence[str]) -> Claim:
        """The output stem for ``source`` (relative to the folder) and which of its files may
        be replaced."""
        owner = (str(source.resolve()), self.model)
        candidate, n = stem, 1
        while True:
            names = [f"{candidate.as_posix()}{ending}" for ending in endings]
            mine = {name for name in names if self.owners.get(name) == owner}
            free = all(name in mine or not os.path.lexists(self.out / name) for name in names)
            if free and not self.taken & set(names):
                self.taken.update(names)
                return Claim(self.out, candidate, frozenset(mine))
            n += 1
            candidate = stem.with_name(f"{stem.name}-{n}")

    def claim_all(
        self, inputs: Sequence[tuple[Path, Path]], wanted: Callable[[Path], dict[str, str]]
    ) -> dict[Path, Claim]:
        """Each input's output stem, chosen in input order (so every rank, reading the same
        folder, names every input's outputs alike; a batch's rows are written before its
        files, so a file another rank has just written is already known as that input's)."""
        return {path: self.claim(path, stem, list(wanted(path).values())) for path, stem in inputs}

    def finish(self, shard: Shard, failed: int) -> int:
        """After every rank is done, rank 0 (or the only process) merges the parts; returns
        the number of inputs that failed on any rank (every rank exits alike, so a launcher
        never stops a rank that is still working because another had a bad file)."""
        if shard.world > 1:
            failed = _all_ranks_sum(failed)
        if shard.rank == 0:
            merge_parts(self.out, self.model)
        return failed


def _part_name(rank: int) -> str:
    return f"predictions.part-{rank}.csv"


def _parts(out: Path) -> list[Manifest]:
    """The manifest parts in ``out`` that have our columns."""
    parts = []
    for path in sorted(out.glob("predictions.part-*.csv")):
        part = Manifest(out, COLUMNS, path.name)
        if part.path == path:  # same header (another header would have moved it to -2)
            parts.append(part)
    return parts


def merge_parts(out: Path, model: str | None = None) -> int:
    """Append the rows of the manifest parts in ``out`` that ``predictions.csv`` does not hold
    yet (one write), then remove those parts; returns how many rows were appended. With
    ``model``, only parts whose rows are all that model's (another job's parts are left).
    """
    parts = [part for part in _parts(out)
             if model is None or all(row.get("model") == model for row in part.rows())]  # fmt: skip
    if not parts:
        return 0
    main = Manifest(out, COLUMNS, MANIFEST, optional=("probs",))
    have = {_key(row) for row in main.rows()}
    new = [row for part in parts for row in part.rows() if _key(row) not in have]
    new = [{k: v for k, v in row.items() if k in main.columns} for row in new]
    if new:
        main.append(new)
    for part in parts:
        part.path.unlink(missing_ok=True)
    return len(new)


def _key(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row.get(column) or "" for column in COLUMNS)


def _all_ranks_sum(value: int) -> int:
    """``value`` summed over every rank, once all have called this (a gloo process group,
    created from the launcher's environment when none exists; its timeout is long: ranks may
    finish hours apart)."""
    import datetime

    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))
        created = True
    total = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(total)
    if created:
        dist.destroy_process_group()
    return int(total.item())


@dataclass(frozen=True)
class Claim:
    """Where one input's outputs go: ``out / stem + ending``; ``replace`` names the ones this
    input wrote in an earlier run."""

    out: Path
    stem: Path
    replace: frozenset[str]

    def name(self, ending: str) -> str:
        return f"{self.stem.as_posix()}{ending}"

    def path(self, ending: str) -> Path:
        return self.out / self.name(ending)


@dataclass
class _Written:
    """One input's finished work: its row, its uncommitted outputs, its line to print."""

    source: object
    row: dict[str, object] | None
    files: list[tuple[Temporary, Claim, str]]
    line: str
    error: str | None = None


class _Run:
    """One ``predict`` run: the model, the options, and the writer threads."""

    def __init__(
        self,
        model: nn.Module,
        args: argparse.Namespace,
        task: str,
        saves: tuple[str, ...],
        results: Results,
        endings: dict[str, str],
    ) -> None:
        from .labels import get_labels, get_palette

        self.model, self.args, self.task, self.saves, self.results = (
            model, args, task, saves, results,
        )  # fmt: skip
        self.labels = get_labels(model)
        self.palette = (
            np.asarray(get_palette(model), dtype=np.uint8) if task != "classification" else None
        )
        self.format = OVERLAY_FORMATS[args.overlay_format]
        self.endings = endings

    def images(self, todo: list[tuple[Path, Claim]], device: torch.device) -> tuple[int, int]:
        """Stream the images of ``todo``; returns (written, failed). On an interruption
        (Ctrl-C, an unexpected error) the batches not yet landed are discarded whole."""
        from . import pipeline

        if not todo:
            return 0, 0
        preprocess = pipeline.Preprocess.of(self.model)
        dataset = pipeline.ImageFiles([p for p, _ in todo], preprocess,
                                      keep_image="overlay" in self.saves)  # fmt: skip
        workers = self.args.workers
        if workers is None:
            workers = 2 if len(todo) > 16 and (os.cpu_count() or 1) >= 4 else 0
        chunks = pipeline.loader(dataset, batch_size=self.args.batch_size, workers=workers,
                                 pin_memory=device.type == "cuda")  # fmt: skip
        claims = dict(todo)
        written = failed = 0
        pending: deque[Future[list[_Written]]] = deque()
        pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="zoo-write")
        try:
            for items in pipeline.batches(self.model, chunks, forward=self._forward):
                pending.append(pool.submit(self._write_batch, items, claims))
                while len(pending) > IN_FLIGHT:
                    ok, bad = self._land(pending.popleft().result())
                    written, failed = written + ok, failed + bad
            while pending:
                ok, bad = self._land(pending.popleft().result())
                written, failed = written + ok, failed + bad
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for future in pending:  # not landed: their outputs never appear
                if not future.cancelled() and future.exception() is None:
                    for done in future.result():
                        for temporary, _, _ in done.files:
                            temporary.discard()
        return written, failed

    def _forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Scores of one stacked batch: segmentation scores (probabilities with TTA) or class
        probabilities, float32 on the CPU."""
        from .pipeline import autocast, device_and_dtype

        device, dtype = device_and_dtype(model)
        x = x.to(device=device, dtype=dtype, non_blocking=True)
        pytorch = getattr(model, "backend", "pytorch") == "pytorch"
        with torch.inference_mode(), autocast(device, self.args.precision if pytorch else "fp32"):
            if self.task == "classification":
                from .inference import class_probabilities

                out = class_probabilities(model, x, self.args.tta)
            else:
                from .segment import segment_logits

                out = segment_logits(model, x, mode=self.args.mode, tta=self.args.tta)
        return out.float().cpu()

    def _write_batch(self, items: list[Any], claims: dict[Path, Claim]) -> list[_Written]:
        """Masks, shares and encoded outputs (uncommitted temporaries) of one batch."""
        done: list[_Written] = []
        try:
            self._write_items(items, claims, done)
        except BaseException:  # an unexpected error: nothing of this batch may appear
            for written in done:
                for temporary, _, _ in written.files:
                    temporary.discard()
            raise
        return done

    def _write_items(
        self, items: list[Any], claims: dict[Path, Claim], done: list[_Written]
    ) -> None:
        for item in items:
            path = item.source
            if item.error is not None:
                done.append(_Written(item.source, None, [], "", error=item.error))
                continue
            try:
                if self.task == "classification":
                    done.append(self._classified(item))
                else:
                    done.append(self._segmented(item, claims[path]))
            except (ZooError, OSError, ValueError, RuntimeError) as exc:
                done.append(_Written(item.source, None, [], "", error=" ".join(str(exc).split())))
            finally:
                item.scores = item.image = None

    def _classified(self, item: Any) -> _Written:
        from .pipeline import top_k

        top = top_k(item.scores, self.labels, self.args.top_k)
        line = f"{shown(item.source)}: " + ", ".join(f"{label} {p:.3f}" for label, p in top)
        row = {"input": str(Path(item.source).resolve()), "model": self.args.model,
               "task": self.task, "width": item.size[0], "height": item.size[1],
               "latency_ms": round(item.forward_ms, 1),
               "classes": "; ".join(f"{label}={p:.4f}" for label, p in top)}  # fmt: skip
        return _Written(item.source, row, [], line)

    def _segmented(self, item: Any, claim: Claim) -> _Written:
        from PIL import Image

        from .pipeline import mask_at

        width, height = item.size
        are_probs = self.args.tta is not None
        mask, probs = mask_at(item.scores, (height, width), probs="probs" in self.saves,
                              are_probs=are_probs)  # fmt: skip
        files: list[tuple[Temporary, Claim, str]] = []
        try:
            if "mask" in self.saves:
                if len(self.labels) <= 256:  # a palette PNG: class indices that show in colour
                    image = Image.fromarray(mask, mode="P")
                    image.putpalette(self.palette.tobytes())  # type: ignore[union-attr]
                else:
                    image = Image.fromarray(mask)
                files.append(self._encode(claim, "mask", image, "PNG"))
            if "overlay" in self.saves:
                colours = self.palette[mask]  # type: ignore[index]  # (H, W, 3)
                photo = Image.fromarray(item.image.numpy())
                blend = Image.blend(photo, Image.fromarray(colours), self.args.alpha)
                files.append(self._encode(claim, "overlay", blend, self.format))
            if "probs" in self.saves:
                buffer = io.BytesIO()
                np.save(buffer, probs.numpy().astype(np.float16))  # type: ignore[union-attr]
                files.append(self._bytes(claim, "probs", buffer.getvalue()))
        except BaseException:
            for temporary, _, _ in files:
                temporary.discard()
            raise
        counts = np.bincount(mask.ravel(), minlength=len(self.labels))
        order = np.argsort(-counts, kind="stable")
        total = max(int(counts.sum()), 1)
        shares = {self.labels[i]: counts[i] / total for i in order if counts[i]}
        top = ", ".join(f"{label} {share:.1%}" for label, share in list(shares.items())[:5])
        row = {"input": str(Path(item.source).resolve()), "model": self.args.model,
               "task": self.task, "width": width, "height": height,
               "latency_ms": round(item.forward_ms, 1),
               "classes": "; ".join(f"{k}={v:.4f}" for k, v in shares.items()),
               **{k: claim.name(self.endings[k]) for k in self.saves}}  # fmt: skip
        return _Written(item.source, row, files, f"{shown(item.source)}: {top}")

    def _encode(
        self, claim: Claim, kind: str, image: Any, fmt: str
    ) -> tuple[Temporary, Claim, str]:
        options: dict[str, Any] = {"compress_level": PNG_LEVEL} if fmt == "PNG" else {"quality": 90}
        return self._temporary(claim, kind, lambda file: image.save(file, format=fmt, **options))

    def _bytes(self, claim: Claim, kind: str, data: bytes) -> tuple[Temporary, Claim, str]:
        return self._temporary(claim, kind, lambda file: file.write(data))

    def _temporary(
        self, claim: Claim, kind: str, write: Callable[[IO[bytes]], object]
    ) -> tuple[Temporary, Claim, str]:
        """An uncommitted temporary beside the output, written by ``write``."""
        target = claim.path(self.endings[kind])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = Temporary(target)
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
        try:
            with open(temporary.path, "wb") as file:
                write(file)
        except BaseException as exc:
            temporary.discard()
            if isinstance(exc, OSError):
                raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
            raise
        return temporary, claim, self.endings[kind]

    def _land(self, batch: list[_Written]) -> tuple[int, int]:
        """Append a finished batch's rows in one write, then rename its outputs into place
        (a kill in between leaves rows whose outputs are missing: the next run redoes them)."""
        rows = [w.row for w in batch if w.row is not None]
        try:
            if rows:
                self.results.manifest.append(rows)
        except BaseException as exc:  # a full disk, or Ctrl-C: none of this batch appears
            for written in batch:
                for temporary, _, _ in written.files:
                    temporary.discard()
            if isinstance(exc, OSError):
                raise ConfigError(f"cannot append to {self.results.manifest.path}: "
                                  f"{exc.strerror or exc}") from None  # fmt: skip
            raise
        ok = bad = 0
        for written in batch:
            error = written.error
            for temporary, claim, ending in written.files:
                try:
                    temporary.commit(replace=claim.name(ending) in claim.replace)
                except FileExistsError:
                    temporary.discard()
                    error = (f"{claim.path(ending)} was created by someone else meanwhile; "
                             "it is left. Move it away, then run with --redo.")  # fmt: skip
                except OSError as exc:
                    temporary.discard()
                    error = f"cannot write {claim.path(ending)}: {exc.strerror or exc}"
            if error is not None:
                bad += 1
                print(f"error: {shown(written.source)}: {shown(error)}", file=sys.stderr)
            else:
                ok += 1
                if not self.args.quiet:
                    print(written.line)
        return ok, bad

    def video(self, path: Path, claim: Claim) -> bool:
        """Segment one video into an overlay MP4 (row appended before the file is renamed
        into place, as for images); False when it failed (reported)."""
        from .video import segment_video

        args = self.args
        if self.task == "classification":
            print(f"error: {shown(path)}: classifiers take images, not videos", file=sys.stderr)
            return False
        if args.tta or args.mode == "slide":
            note = "--tta and --mode slide apply to images only"
            print(f"note: {shown(path)}: {note}", file=sys.stderr)
        out = claim.path("_overlay.mp4")
        temporary: Temporary | None = None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            temporary = Temporary(out)
            result = segment_video(self.model, path, temporary.path, alpha=args.alpha,
                                   progress=False, overwrite=True)  # fmt: skip
            shares: dict[str, float] = {}
            frames = max(len(result.class_shares), 1)
            for frame in result.class_shares:
                for label, share in frame.items():
                    shares[label] = shares.get(label, 0.0) + share / frames
            ranked = sorted(shares.items(), key=lambda kv: -kv[1])
            self.results.manifest.append([{
                "input": str(path.resolve()), "model": args.model, "task": self.task,
                "width": result.size[0], "height": result.size[1], "frames": result.frames,
                "fps": round(result.fps, 3), "processing_fps": round(result.processing_fps, 2),
                "overlay": claim.name("_overlay.mp4"),
                "classes": "; ".join(f"{k}={v:.4f}" for k, v in ranked),
            }])  # fmt: skip
            temporary.commit(replace=claim.name("_overlay.mp4") in claim.replace)
        except (ZooError, OSError, RuntimeError, ValueError) as exc:
            if temporary is not None:
                temporary.discard()
            print(f"error: {shown(path)}: {' '.join(shown(exc).split())}", file=sys.stderr)
            return False
        note = " (cut at the length limit)" if result.truncated else ""
        if not args.quiet:
            print(f"{shown(path)}: {result.frames} frames at {result.fps:g} fps, "
                  f"{result.processing_fps:.1f} frames/s{note} -> {shown(out)}")  # fmt: skip
        return True
