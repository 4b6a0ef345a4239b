"""Clips with the awkward properties phones and cameras produce, written with PyAV from real
photos: a display rotation, a variable frame rate, a size change mid-stream, no frames."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

MS = Fraction(1, 1000)


def probe(path):
    """``(codec, fps, decoded frames, (width, height))`` of a video file (needs PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        size = (stream.width, stream.height)
        return stream.codec_context.name, float(stream.average_rate), frames, size


def _stream(av, container, size, rate=12, time_base=None):
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    if time_base is not None:
        stream.codec_context.time_base = time_base
    return stream


def _encode(av, container, stream, pixels, pts=None):
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    if pts is not None:
        frame.pts, frame.time_base = pts, stream.codec_context.time_base
    for packet in stream.encode(frame):
        container.mux(packet)


def _flush(container, stream):
    for packet in stream.encode():
        container.mux(packet)


def rotated_clip(path: Path, upright: Image.Image, frames: int = 6) -> Path:
    """A portrait ``upright`` photo stored the way phones store it: landscape pixels (turned a
    quarter clockwise) with a display matrix that turns them back (90° counter-clockwise)."""
    import av

    stored = np.rot90(np.asarray(upright.convert("RGB")), -1)  # (W, H, 3): turned clockwise
    with av.open(str(path), "w") as container:
        stream = _stream(av, container, (stored.shape[1], stored.shape[0]))
        stream.set_display_rotation(90)
        for _ in range(frames):
            _encode(av, container, stream, stored)
        _flush(container, stream)
    return path


def variable_rate_clip(path: Path, photo: Image.Image, times_s: list[float]) -> Path:
    """Frames of ``photo`` shown at the given times (seconds): a variable frame rate, as phones
    record in low light."""
    import av

    pixels = np.asarray(photo.convert("RGB"))
    with av.open(str(path), "w") as container:
        stream = _stream(av, container, photo.size, rate=30, time_base=MS)
        for seconds in times_s:
            _encode(av, container, stream, pixels, pts=round(seconds * 1000))
        _flush(container, stream)
    return path


def size_change_clip(path: Path, parts: list[Image.Image], frames: int = 6) -> Path:
    """An MPEG-TS clip whose frame size changes between segments (``frames`` frames of each
    image in ``parts``, at its own size), timestamps running on, as a spliced broadcast
    recording has."""
    import av

    data = b""
    for index, part in enumerate(parts):
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mpegts") as container:
            stream = _stream(av, container, part.size, time_base=Fraction(1, 12))
            pixels = np.asarray(part.convert("RGB"))
            for k in range(frames):
                _encode(av, container, stream, pixels, pts=index * frames + k)
            _flush(container, stream)
        data += buffer.getvalue()
    path.write_bytes(data)
    return path


def frameless_clip(path: Path) -> Path:
    """An AVI with a video stream and no frames (a recording stopped before its first frame)."""
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # the header, then no frames
    return path


def frame_times(path: Path) -> list[float]:
    """Presentation times (s) of every frame of a clip."""
    import av

    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(container.streams.video[0])]


def frames_and_size(path: Path) -> tuple[int, tuple[int, int], int]:
    """(frames, (width, height) of the first, rotation of the first) of a clip."""
    import av

    with av.open(str(path)) as container:
        decoded = list(container.decode(container.streams.video[0]))
        return len(decoded), (decoded[0].width, decoded[0].height), decoded[0].rotation
