"""Segmenting videos frame by frame, streaming: PyAV decodes, the model runs in batches, and an
H.264 MP4 of overlays is written as frames come (memory does not grow with the clip's length).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from .atomic import Temporary
from .errors import ConfigError, InvalidImageError, InvalidVideoError, require
from .images import MAX_PIXELS, _to_rgb, check_size
from .labels import get_labels, get_palette
from .pipeline import Preprocess, apply_backend, device_and_dtype, mask_at, upsample
from .segment import SegmentationResult

#: Default ceiling on a clip's length (seconds); longer clips are cut (see ``truncated``).
MAX_SECONDS = 600.0


@dataclass
class VideoResult:
    """What :func:`segment_video` did.

    Attributes:
        path: The overlay video written (None when no ``dst`` was given).
        mask_path: The mask video written, if asked for.
        frames: Frames read and written.
        fps: The source's average frame rate (frames per second).
        size: ``(width, height)`` of the output frames: the source's as displayed (its
            rotation applied), cropped to even sizes as H.264 needs.
        class_shares: Per frame, label → fraction of pixels.
        seconds: Wall time (seconds) spent decoding (``"decode"``), preprocessing, in the
            model and making masks (``"model"``), drawing overlays and encoding them
            (``"encode"``), and in total (``"total"``).
        truncated: Whether the clip was cut at ``max_seconds``.
        duration: Length of the output in seconds, from the source's timestamps (a
            variable-frame-rate clip keeps its timing).
        frame_ms: Per frame the model ran on, in order, milliseconds of preprocessing, model
            and mask (a batch's time split evenly over its frames); frames that reused a mask
            (``stride``) are not listed. The first is a cold run (caches, ONNX Runtime's
            first call), so compare it with :attr:`median_frame_ms`.
    """

    path: Path | None
    mask_path: Path | None
    frames: int
    fps: float
    size: tuple[int, int]
    class_shares: list[dict[str, float]] = field(repr=False)
    seconds: dict[str, float]
    truncated: bool = False
    duration: float = 0.0
    frame_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def median_frame_ms(self) -> float:
        """The median of :attr:`frame_ms` (0.0 when no frame ran)."""
        return float(np.median(self.frame_ms)) if self.frame_ms else 0.0

    @property
    def processing_fps(self) -> float:
        """Frames processed per second of wall time."""
        return self.frames / self.seconds["total"] if self.seconds.get("total") else 0.0


def segment_video(
    model: nn.Module,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 4,
    stride: int = 1,
    smoothing: float = 0.0,
    alpha: float = 0.5,
    mask_dst: str | os.PathLike[str] | None = None,
    max_seconds: float | None = MAX_SECONDS,
    progress: bool = True,
    backend: str | None = None,
    overwrite: bool = True,
) -> VideoResult:
    """Segment every frame of a video and write the overlays as a browser-playable MP4.

    Frames are preprocessed like :func:`zoo.segment` (the model's test-time resize and
    normalisation; whole-image inference) and run ``batch_size`` at a time. The output keeps
    the source's frame rate and frame count, so its duration too.

    Args:
        model: A segmentation model; switched to eval mode.
        src: A video file PyAV can decode (MP4, WebM, MOV, AVI, ...).
        dst: Where to write the overlay video (H.264 in MP4, ``yuv420p``); None writes none
            (class shares and timing only).
        batch_size: Frames per forward pass.
        stride: Run the model on every ``stride``-th frame; frames in between reuse the last
            mask (faster, for slowly changing scenes).
        smoothing: Exponential moving average of the class probabilities over frames,
            ``p = (1 - smoothing) · p_frame + smoothing · p_previous`` (0 = off; 0.5 damps
            flicker).
        alpha: Opacity of the mask in the overlay, 0–1.
        mask_dst: Also write the coloured masks as a second MP4.
        max_seconds: Process at most this much of the clip (``truncated`` says if it was cut);
            None = no limit.
        progress: Show a tqdm progress bar.
        backend: None, ``"pytorch"``, ``"onnxruntime"``, ``"openvino"`` or ``"auto"``, as for
            :func:`zoo.segment`.
        overwrite: Replace an existing ``dst``/``mask_dst`` (default). False leaves a file
            that exists when the video is done as it is and raises ``ConfigError`` (a
            concurrent writer's, say).

    Returns:
        A :class:`VideoResult`.

    Raises:
        MissingExtraError: PyAV is not installed (``pip install 'vision-zoo[video]'``).
        InvalidVideoError: ``src`` is missing, has no video stream, or cannot be decoded;
            frames larger than the image pixel limit.
        ConfigError: Bad ``batch_size``/``stride``/``smoothing``/``alpha``, not a
            segmentation model, an output folder that cannot be written, or (``overwrite=False``)
            an output that exists.
    """
    require("av", "video")
    import av

    _check_stream_settings(batch_size, stride, smoothing)
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
    if max_seconds is not None and not (
        isinstance(max_seconds, (int, float)) and max_seconds > 0 and not math.isnan(max_seconds)
    ):
        raise ConfigError(f"max_seconds must be a positive number or None, got {max_seconds!r}")
    settings = _Settings(Preprocess.of(model, task="segmentation"), get_labels(model),
                         list(get_palette(model)), batch_size)  # fmt: skip
    outputs = _check_outputs(src, dst, mask_dst)
    model = apply_backend(model, backend)
    model.eval()
    start = time.perf_counter()
    source = _open(av, src)
    writers: dict[str, _Writer] = {}
    decoded: _Decoded | None = None
    done = False
    try:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        if stream.codec_context is None:
            raise InvalidVideoError(f"{src}: its video codec cannot be decoded by PyAV/FFmpeg.")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:
            raise InvalidVideoError(f"{src}: frames of {width}×{height} are too large.")
        limit = max_seconds if max_seconds is not None and math.isfinite(max_seconds) else None
        decoded = _Decoded(stream, source, src, fps, limit, progress)
        shown = decoded.size  # (width, height) as displayed: rotation applied
        size = (shown[0] - shown[0] % 2, shown[1] - shown[1] % 2)
        if min(size) < 2:
            raise InvalidVideoError(f"{src}: frames of {shown[0]}×{shown[1]} are too small.")
        for role, path in outputs.items():
            writers[role] = _Writer(av, path, role, fps, size, decoded.time_base, overwrite)
        run = _Run(model, settings, stride, smoothing, alpha, size, writers)
        run.process(iter(decoded))
        done = True
    finally:
        _close_all(list(writers.values()), done, source, decoded)
    run.seconds["total"] = time.perf_counter() - start
    return VideoResult(
        path=Path(dst) if dst else None,
        mask_path=Path(mask_dst) if mask_dst else None,
        frames=run.count,
        fps=float(fps),
        frame_ms=run.frame_ms,
        size=size,
        class_shares=run.shares,
        seconds=run.seconds,
        truncated=run.truncated,
        duration=decoded.duration,
    )


#: Containers the H.264 writer can produce.
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")


def _check_outputs(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None,
    mask_dst: str | os.PathLike[str] | None,
) -> dict[str, Path]:
    """The output paths by role, checked before anything is decoded or written.

    Raises:
        ConfigError: An output that is the source, both outputs the same file, a suffix the
            H.264 writer cannot produce, a directory, or a missing parent folder.
    """
    outputs = {role: Path(p) for role, p in (("overlay", dst), ("mask", mask_dst)) if p}
    source = Path(src).resolve()
    for role, path in outputs.items():
        if path.resolve() == source:
            raise ConfigError(f"The {role} video {path} is the source itself; choose another path.")
        if path.suffix.lower() not in OUTPUT_SUFFIXES:
            raise ConfigError(
                f"The {role} video {path} must end in one of {', '.join(OUTPUT_SUFFIXES)} "
                "(H.264 output)."
            )
        if path.is_dir():
            raise ConfigError(f"The {role} video {path} is a directory.")
        if not path.parent.is_dir():
            raise ConfigError(f"The folder of the {role} video {path} does not exist.")
        if not os.access(path.parent, os.W_OK):
            raise ConfigError(f"The folder of the {role} video {path} is not writable.")
    if len(outputs) == 2 and outputs["overlay"].resolve() == outputs["mask"].resolve():
        raise ConfigError("dst and mask_dst are the same file.")
    return outputs


def _open(av: Any, src: str | os.PathLike[str]) -> Any:
    if not Path(src).is_file():
        raise InvalidVideoError(f"{src}: no such file.")
    try:
        container = av.open(str(src))
    except av.error.EOFError:
        raise InvalidVideoError(
            f"{src} has no video frames (an empty or unfinished clip)."
        ) from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InvalidVideoError(f"{src} is not a video PyAV can decode: {exc}") from exc
    still = container.format.name == "image2" or container.format.name.endswith("_pipe")
    if still or not container.streams.video:
        container.close()
        what = "a still image" if still else "a file without a video stream"
        raise InvalidVideoError(
            f"{src} is not a video ({what}); expected MP4, WebM, MOV, MKV or AVI. "
            "Segment images with zoo.segment."
        )
    return container


class _Truncated(Exception):
    pass


class _Decoded:
    """The clip's frames as the viewer sees them: RGB ``(H, W, 3)`` uint8 arrays, turned
    upright by the stream's display matrix (a phone's portrait clip is stored landscape with
    a rotation), all at the first frame's size (a frame whose size changes mid-stream is
    scaled to it, as FFmpeg does when it encodes such a clip), each with its timestamp in
    :attr:`time_base` units (so a variable-frame-rate clip keeps its timing).

    Iterating yields ``(rgb, pts)`` pairs and raises :class:`_Truncated` at ``limit``
    seconds if frames remain.

    Raises:
        InvalidVideoError: No frames at all, or a decoding error (naming the frame).
    """

    def __init__(
        self, stream: Any, source: Any, src: Any, fps: Fraction, limit: float | None,
        progress: bool,
    ) -> None:  # fmt: skip
        self.src, self.fps, self.limit = src, fps, limit
        self.time_base = Fraction(stream.time_base or Fraction(1, 90_000))
        self.packets = source.decode(stream)
        self.count = 0
        self.start: int | None = None
        self.last = -1
        self.end = 0  # output timestamp just past the last frame
        first = self._next()
        if first is None:
            raise InvalidVideoError(f"{src} has no video frames (an empty or unfinished clip).")
        self.first = first
        quarter = round(first.rotation / 90) % 4
        self.size = (first.height, first.width) if quarter % 2 else (first.width, first.height)
        total = stream.frames or None
        if limit is not None and total is not None:
            total = min(total, max(1, int(limit * fps)))
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="frame", disable=not progress, desc="segment_video")

    @property
    def duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end."""
        return float(self.end * self.time_base)

    def _next(self) -> Any:
        import av

        try:
            return next(self.packets, None)
        except av.error.EOFError:  # a container that ends before its first packet, or early
            return None
        except av.error.FFmpegError as exc:
            raise InvalidVideoError(
                f"{self.src}: decoding failed after {self.count} frames: {exc}"
            ) from exc

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        frame = self.first
        while frame is not None:
            pts, length = self._timestamp(frame)
            if self.limit is not None and pts * self.time_base >= self.limit:
                raise _Truncated
            self.end = pts + length
            yield self._upright(frame), pts
            self.count += 1
            self.bar.update(1)
            frame = self._next()

    def _timestamp(self, frame: Any) -> tuple[int, int]:
        """The frame's presentation time relative to the first frame (strictly increasing;
        counted from the frame rate when the container gives none) and its length."""
        step = max(1, round(1 / (self.fps * self.time_base)))
        if frame.pts is None:
            pts = self.last + step if self.count else 0
        else:
            self.start = frame.pts if self.start is None else self.start
            pts = frame.pts - self.start
        if pts <= self.last:  # a timestamp that goes back (a spliced clip): one frame later
            pts = self.last + step
        self.last = pts
        return pts, (frame.duration or step)

    def _upright(self, frame: Any) -> np.ndarray:
        quarter = round(frame.rotation / 90) % 4  # counter-clockwise quarter turns to display
        coded = self.size[::-1] if quarter % 2 else self.size  # (width, height) before turning
        if (frame.width, frame.height) != coded:
            rgb = frame.reformat(width=coded[0], height=coded[1], format="rgb24").to_ndarray()
        else:
            rgb = frame.to_ndarray(format="rgb24")
        return np.rot90(rgb, quarter) if quarter else rgb


def _close_all(writers: list[_Writer], done: bool, source: Any, decoded: Any) -> None:
    """Close every writer (keeping its video when ``done`` and no earlier writer failed), then
    the source and the progress bar, whatever fails on the way; the first error is raised."""
    error: BaseException | None = None
    for writer in writers:
        try:
            writer.close(keep=done and error is None)
        except BaseException as exc:
            error = error or exc
    source.close()
    if decoded is not None:
        decoded.bar.close()
    if error is not None:
        raise error


class _Writer:
    """An H.264 MP4 written frame by frame into a locked temporary (``faststart``, so browsers
    can play it while it loads), renamed over its target only when the whole clip is done."""

    def __init__(
        self, av: Any, path: Path, role: str, fps: Fraction, size: tuple[int, int],
        time_base: Fraction, overwrite: bool = True,
    ) -> None:  # fmt: skip
        self.av, self.time_base, self.path, self.overwrite = av, time_base, path, overwrite
        try:
            self.temporary = Temporary(path)
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the {role} video {path} ({exc.strerror or exc}); choose a folder "
                "you can write to."
            ) from None
        try:
            self.container = av.open(
                str(self.temporary.path), "w", options={"movflags": "faststart"}
            )
        except (av.error.FFmpegError, OSError) as exc:
            self.temporary.discard()
            raise ConfigError(
                f"Cannot write the {role} video {path} ({exc}); choose a folder you can write to."
            ) from None
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.codec_context.time_base = time_base
        self.stream.time_base = time_base
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "23", "preset": "veryfast"}

    def write(self, rgb: np.ndarray, pts: int) -> None:
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = pts, self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self, keep: bool) -> None:
        """Finish the stream and rename the video into place (``keep``), or remove it.

        Raises:
            ConfigError: ``overwrite=False`` and the target appeared meanwhile.
        """
        try:
            if keep:
                for packet in self.stream.encode():
                    self.container.mux(packet)
            self.container.close()
        except BaseException:
            with suppress(Exception):
                self.container.close()
            self.temporary.discard()
            raise
        if not keep:
            self.temporary.discard()
            return
        try:
            self.temporary.commit(replace=self.overwrite, fsync=True)
        except FileExistsError:
            self.temporary.discard()
            raise ConfigError(
                f"{self.path} was created by someone else meanwhile; it is left as it is."
            ) from None


@dataclass(frozen=True)
class _Settings:
    preprocess: Preprocess
    labels: list[str]
    palette: list[tuple[int, int, int]]
    batch_size: int


class _Masks:
    """The model side of a stream of frames: preprocessing, the forward pass (every
    ``stride``-th frame), smoothing of the probabilities over frames, and the masks."""

    def __init__(self, model: nn.Module, settings: _Settings, stride: int, smoothing: float):
        self.model, self.s, self.stride, self.smoothing = model, settings, stride, smoothing
        self.device, self.dtype = device_and_dtype(model)
        self.previous: Tensor | None = None  # smoothed (K, h, w) probabilities
        self.mask: np.ndarray | None = None
        self.count = 0  # frames seen

    def __call__(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, float | None]]:
        """One ``(mask, ms)`` per frame, in order: ``ms`` is the frame's share of the time
        spent preprocessing, in the model and making masks (a batch's time split evenly over
        the frames it ran on); None for a frame that reused the previous mask (``stride``; a
        frame whose size differs from the previous one's always runs)."""
        tick = time.perf_counter()
        run, shape = [], None if self.mask is None else self.mask.shape
        for i, frame in enumerate(frames):  # a frame of another size than the last needs a run
            if (self.count + i) % self.stride == 0 or frame.shape[:2] != shape:
                run.append(i)
            shape = frame.shape[:2]
        masks: dict[int, np.ndarray] = {}
        shapes = {frames[i].shape for i in run}
        groups = [run] if len(shapes) == 1 else [[i] for i in run]  # one size per batch
        with torch.inference_mode():
            for group in groups:
                height, width = frames[group[0]].shape[:2]
                base = self.s.preprocess.input_size(width, height)
                inputs = torch.stack([self.s.preprocess(frames[i], base) for i in group])
                inputs = inputs.to(device=self.device, dtype=self.dtype)
                logits = self.model(inputs).float().cpu()  # (n, K, h, w)
                for i, item in zip(group, logits, strict=True):
                    masks[i] = self._mask(upsample(item, (base[1], base[0])), (height, width))
        share = 1000 * (time.perf_counter() - tick) / max(len(run), 1)
        out: list[tuple[np.ndarray, float | None]] = []
        for i in range(len(frames)):
            if i in masks:
                self.mask = masks[i]
            assert self.mask is not None
            out.append((self.mask, share if i in masks else None))
        self.count += len(frames)
        return out

    def _mask(self, logits: Tensor, size: tuple[int, int]) -> np.ndarray:
        if not self.smoothing:
            return mask_at(logits, size)[0]
        probs = logits.softmax(0)
        if self.previous is not None and self.previous.shape == probs.shape:
            probs = (1 - self.smoothing) * probs + self.smoothing * self.previous
        self.previous = probs
        return mask_at(probs, size, are_probs=True)[0]


class _Run:
    """The state of one video: the pending batch, the masks, the writers."""

    def __init__(
        self,
        model: nn.Module,
        settings: _Settings,
        stride: int,
        smoothing: float,
        alpha: float,
        size: tuple[int, int],
        writers: dict[str, _Writer],
    ) -> None:
        self.s, self.alpha, self.size, self.writers = settings, alpha, size, writers
        self.masks = _Masks(model, settings, stride, smoothing)
        self.shares: list[dict[str, float]] = []
        self.frame_ms: list[float] = []
        self.seconds = {"decode": 0.0, "model": 0.0, "encode": 0.0}
        self.count = 0
        self.truncated = False

    def process(self, frames: Iterator[tuple[np.ndarray, int]]) -> None:
        pending: list[tuple[np.ndarray, int]] = []
        try:
            while True:
                tick = time.perf_counter()
                try:
                    frame, pts = next(frames)
                except StopIteration:
                    break
                self.seconds["decode"] += time.perf_counter() - tick
                pending.append((frame[: self.size[1], : self.size[0]], pts))
                if len(pending) == self.s.batch_size:
                    self._flush(pending)
                    pending = []
        except _Truncated:
            self.truncated = True
        if pending:
            self._flush(pending)

    def _flush(self, batch: list[tuple[np.ndarray, int]]) -> None:
        """Run the model on the frames that need it, then draw and encode all of them."""
        tick = time.perf_counter()
        masks = self.masks([rgb for rgb, _ in batch])
        self.seconds["model"] += time.perf_counter() - tick
        tick = time.perf_counter()
        for (rgb, pts), (mask, ms) in zip(batch, masks, strict=True):
            if ms is not None:
                self.frame_ms.append(ms)
            result = SegmentationResult(mask, self.s.labels, self.s.palette, Image.fromarray(rgb))
            self.shares.append(result.class_shares())
            if self.writers:
                colours = np.asarray(self.s.palette, dtype=np.uint8)[mask]  # (H, W, 3)
                if "overlay" in self.writers:
                    overlay = (rgb * (1 - self.alpha) + colours * self.alpha).astype(np.uint8)
                    self.writers["overlay"].write(overlay, pts)
                if "mask" in self.writers:
                    self.writers["mask"].write(colours, pts)
            self.count += 1
        self.seconds["encode"] += time.perf_counter() - tick


def segment_frames(
    model: nn.Module,
    frames: Iterable[np.ndarray | Image.Image],
    *,
    batch_size: int = 1,
    stride: int = 1,
    smoothing: float = 0.0,
    backend: str | None = None,
) -> Iterator[SegmentationResult]:
    """Segment a stream of frames (a webcam, a decoder, a list) and yield one result per
    frame, in order, as soon as it is ready.

    Latency is bounded: with ``batch_size=1`` a frame's result is yielded before the next
    frame is read, so a live source is never read ahead and each result comes one model run
    after its frame; ``batch_size=n`` trades up to ``n - 1`` frames of delay for throughput.
    Frames are preprocessed as :func:`zoo.segment` does (the model's test-time resize and
    normalisation, whole-image inference); :func:`zoo.segment_video` runs on the same code.

    Args:
        model: A segmentation model (PyTorch or :class:`zoo.ORTModel`); switched to eval mode.
        frames: RGB frames: PIL images (any mode, converted as :func:`zoo.load_image`
            converts it: transparency over white, 16-bit by its range) or ``(H, W, 3)`` uint8
            arrays. Their size may change between frames.
        batch_size: Frames per forward pass.
        stride: Run the model on every ``stride``-th frame; frames in between reuse the last
            mask (unless their size differs from the previous frame's).
        smoothing: Exponential moving average of the class probabilities over frames, as in
            :func:`zoo.segment_video` (0 = off).
        backend: None, ``"pytorch"``, ``"onnxruntime"``, ``"openvino"`` or ``"auto"``, as for
            :func:`zoo.segment`.

    Yields:
        A :class:`zoo.SegmentationResult` per frame, its ``mask`` ``(H, W)`` at the frame's
        size and its ``latency_ms`` the frame's share of preprocessing, model and mask time in
        milliseconds (0.0 for a frame that reused the previous mask).

    Raises:
        ConfigError: Bad ``batch_size``/``stride``/``smoothing``/``backend``, or not a
            segmentation model (raised at the call, before any frame is read).
        MissingExtraError: ``backend`` needs ONNX Runtime and it is not installed (at the call).
        InvalidImageError: A frame that is neither a PIL image nor an ``(H, W, 3)`` uint8
            array, or whose size :func:`zoo.load_image` would refuse (too many pixels, an
            extreme aspect ratio); raised when that frame is read, before the results of the
            frames batched with it (``batch_size > 1``) are yielded.
    """
    _check_stream_settings(batch_size, stride, smoothing)
    settings = _Settings(Preprocess.of(model, task="segmentation"), get_labels(model),
                         list(get_palette(model)), batch_size)  # fmt: skip
    model = apply_backend(model, backend)
    model.eval()
    return _stream(_Masks(model, settings, stride, smoothing), settings, frames)


def _stream(
    masks: _Masks, settings: _Settings, frames: Iterable[np.ndarray | Image.Image]
) -> Iterator[SegmentationResult]:
    pending: list[np.ndarray] = []
    for number, frame in enumerate(frames):
        pending.append(_rgb_frame(frame, number))
        if len(pending) < settings.batch_size:
            continue
        yield from _results(masks, settings, pending)
        pending = []
    if pending:
        yield from _results(masks, settings, pending)


def _results(
    masks: _Masks, settings: _Settings, frames: list[np.ndarray]
) -> Iterator[SegmentationResult]:
    for rgb, (mask, ms) in zip(frames, masks(frames), strict=True):
        width, height = settings.preprocess.input_size(rgb.shape[1], rgb.shape[0])
        image = partial(Image.fromarray, rgb)
        yield SegmentationResult(mask, settings.labels, settings.palette, image,
                                 latency_ms=ms or 0.0, input_size=(height, width))  # fmt: skip


def _rgb_frame(frame: Any, number: int) -> np.ndarray:
    """``frame`` as an ``(H, W, 3)`` uint8 array (a PIL image converted as
    :func:`zoo.load_image` converts it), or InvalidImageError naming it."""
    if isinstance(frame, Image.Image):
        check_size(frame.width, frame.height, name=f"Frame {number}")
        return np.asarray(_to_rgb(frame))
    if not (
        isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
        and frame.shape[2] == 3
    ):  # fmt: skip
        what = (f"a {frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray)
                else f"a {type(frame).__name__}")  # fmt: skip
        raise InvalidImageError(
            f"Frame {number} is {what}; frames must be PIL images or (H, W, 3) uint8 RGB arrays."
        )
    check_size(frame.shape[1], frame.shape[0], name=f"Frame {number}")
    return frame


def _check_stream_settings(batch_size: Any, stride: Any, smoothing: Any) -> None:
    for name, value, low in (("batch_size", batch_size, 1), ("stride", stride, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(smoothing, (int, float)) and 0.0 <= smoothing < 1.0):
        raise ConfigError(f"smoothing must be in [0, 1), got {smoothing!r}")
