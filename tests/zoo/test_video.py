"""zoo.segment_video: streams a clip through a model into a playable H.264 MP4 of overlays."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

import zoo

from .clips import probe
from .test_segment import tiny

av = pytest.importorskip("av", reason="pip install 'vision-zoo[video]'")


def write_clip(path, photo, seconds, fps=12, size=(160, 120)):
    """A slow pan and zoom over a real photo, as H.264."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    frames = int(seconds * fps)
    for index in range(frames):
        zoom = 1 + 0.3 * index / frames
        w, h = int(photo.width / zoom), int(photo.height / zoom)
        left = int((photo.width - w) * index / frames)
        crop = photo.crop((left, 0, left + w, h)).resize(size)
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.fixture(scope="module")
def photo(photos):
    return Image.open(photos["astronaut.png"]).convert("RGB")


@pytest.fixture(scope="module")
def model():
    return tiny(input_size=(3, 64, 64))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, photo):
    return write_clip(tmp_path_factory.mktemp("clips") / "pan.mp4", photo, seconds=3)


def test_output_keeps_frames_fps_and_size_and_plays(model, clip, tmp_path):
    result = zoo.segment_video(model, clip, tmp_path / "out.mp4", mask_dst=tmp_path / "m.mp4",
                               batch_size=4, progress=False)  # fmt: skip
    assert (result.frames, result.fps, result.size) == (36, 12.0, (160, 120))
    assert result.duration == pytest.approx(3.0)
    assert probe(tmp_path / "out.mp4") == ("h264", 12.0, 36, (160, 120))
    assert probe(tmp_path / "m.mp4")[2] == 36
    assert len(result.class_shares) == 36
    assert all(sum(s.values()) == pytest.approx(1.0) for s in result.class_shares)
    assert set(result.seconds) == {"decode", "model", "encode", "total"}


def test_stride_and_smoothing_keep_every_frame(model, clip, tmp_path):
    result = zoo.segment_video(model, clip, tmp_path / "s.mp4", stride=3, smoothing=0.5,
                               progress=False)  # fmt: skip
    assert result.frames == 36 and probe(tmp_path / "s.mp4")[2] == 36


def test_memory_does_not_grow_with_the_clip(model, photo, tmp_path):
    """Peak traced memory (numpy frames, masks) of a 4× longer clip stays that of a short one."""
    peaks = []
    for seconds in (1, 4):
        path = write_clip(tmp_path / f"{seconds}.mp4", photo, seconds, size=(320, 240))
        tracemalloc.start()
        zoo.segment_video(model, path, tmp_path / f"{seconds}-out.mp4", progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0] + 1e6, peaks


def test_length_limit_cuts_with_a_notice(model, clip, tmp_path):
    result = zoo.segment_video(model, clip, tmp_path / "cut.mp4", max_seconds=1.0, progress=False)
    assert result.truncated and result.frames == 12


def test_not_a_video_is_a_clear_error(model, tmp_path, photos):
    with pytest.raises(zoo.InvalidVideoError, match="not a video"):
        zoo.segment_video(model, photos["astronaut.png"], progress=False)
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(zoo.InvalidVideoError, match=r"junk\.mp4"):
        zoo.segment_video(model, tmp_path / "junk.mp4", progress=False)
    with pytest.raises(zoo.InvalidVideoError, match="no such file"):
        zoo.segment_video(model, tmp_path / "missing.mp4", progress=False)


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"stride": 0}, {"smoothing": 1.0}, {"alpha": -0.1}]
)
def test_bad_arguments(model, clip, kwargs):
    with pytest.raises(zoo.ConfigError):
        zoo.segment_video(model, clip, progress=False, **kwargs)


def test_outputs_are_checked_first_and_written_whole(model, clip, tmp_path):
    before = clip.read_bytes()
    with pytest.raises(zoo.ConfigError, match="source itself"):
        zoo.segment_video(model, clip, clip, progress=False)
    assert clip.read_bytes() == before
    for bad, match in ((tmp_path / "x.webm", "must end in"), (tmp_path / "no" / "x.mp4", "folder")):
        with pytest.raises(zoo.ConfigError, match=match):
            zoo.segment_video(model, clip, bad, progress=False)
    precious = tmp_path / "precious.mp4"
    precious.write_bytes(b"keep me")

    def fail(*args):
        raise RuntimeError("model broke")

    handle = model.register_forward_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="model broke"):
            zoo.segment_video(model, clip, precious, progress=False)
    finally:
        handle.remove()
    assert precious.read_bytes() == b"keep me"  # a failed run replaces nothing
    assert [p.name for p in tmp_path.iterdir()] == ["precious.mp4"]  # and leaves no temp file


def test_mask_video_alone_holds_the_mask(model, clip, tmp_path):
    """Without dst, mask_dst gets the coloured mask, not the overlay (a blend of the photo)."""
    zoo.segment_video(model, clip, None, mask_dst=tmp_path / "mask.mp4", progress=False)
    with av.open(str(tmp_path / "mask.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    palette = np.asarray(zoo.get_palette(model))  # (K, 3)
    distance = np.abs(frame[:, :, None, :] - palette[None, None]).sum(-1).min(-1)  # (H, W)
    assert (distance < 60).mean() > 0.95  # palette colours, up to H.264's chroma smoothing


def test_per_frame_times(model, clip, tmp_path):
    result = zoo.segment_video(model, clip, None, batch_size=4, stride=2, progress=False)
    assert len(result.frame_ms) == 18  # the 18 of 36 frames the model ran on
    assert all(ms > 0 for ms in result.frame_ms)
    assert result.median_frame_ms == pytest.approx(float(np.median(result.frame_ms)))
