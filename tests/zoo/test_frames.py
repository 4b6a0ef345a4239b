"""zoo.segment_frames: a stream of frames in, one segmentation per frame out, without reading
ahead (the library side of the demo's Live tab; zoo.segment_video runs on the same code)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import zoo

from .test_segment import tiny


@pytest.fixture(scope="module")
def model():
    return tiny(input_size=(3, 64, 64))


@pytest.fixture(scope="module")
def frames(photos):
    photo = Image.open(photos["astronaut.png"]).convert("RGB")
    return [np.asarray(photo.crop((8 * i, 0, 8 * i + 160, 120))) for i in range(6)]


def test_one_result_per_frame_matching_segment(model, frames):
    results = list(zoo.segment_frames(model, frames))
    assert len(results) == len(frames)
    for frame, result in zip(frames, results, strict=True):
        assert result.mask.shape == frame.shape[:2]
        assert result.latency_ms > 0
        np.testing.assert_array_equal(result.mask, zoo.segment(model, frame, mode="whole").mask)
        assert np.array_equal(np.asarray(result.image), frame)


def test_a_live_source_is_not_read_ahead(model, frames):
    read: list[int] = []

    def camera():
        for index, frame in enumerate(frames):
            read.append(index)
            yield frame

    stream = zoo.segment_frames(model, camera())
    for index in range(3):
        next(stream)
        assert read == list(range(index + 1))  # the result came before the next frame was read
    batched = zoo.segment_frames(model, camera(), batch_size=2)
    read.clear()
    next(batched)
    assert read == [0, 1]  # batch_size=2: at most one frame of delay


def test_pil_frames_sizes_that_change_stride(model, frames):
    small = frames[1][:64, :80]
    mixed = [Image.fromarray(frames[0]).convert("RGBA"), small, small.copy(), frames[3]]
    results = list(zoo.segment_frames(model, mixed, batch_size=3, stride=3))
    assert [r.mask.shape for r in results] == [(120, 160), (64, 80), (64, 80), (120, 160)]
    # frame 1 runs though stride=3 (its size changed); frame 2 reuses its mask
    assert [r.latency_ms > 0 for r in results] == [True, True, False, True]
    np.testing.assert_array_equal(results[2].mask, results[1].mask)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((4, 4), np.uint8), r"Frame 1 is a uint8 array of shape \(4, 4\)"),
        (np.zeros((4, 4, 3), np.float32), "float32"),
        ("frame.png", "a str"),
    ],
)
def test_a_bad_frame_names_it(model, frames, frame, message):
    stream = zoo.segment_frames(model, [frames[0], frame])
    next(stream)
    with pytest.raises(zoo.InvalidImageError, match=message):
        next(stream)


def test_bad_settings_fail_at_the_call(model):
    with pytest.raises(zoo.ConfigError, match="batch_size"):
        zoo.segment_frames(model, [], batch_size=0)
    with pytest.raises(zoo.ConfigError, match="segmentation model"):
        zoo.segment_frames(zoo.create_model("resnet20_cifar"), [])


def test_pil_frames_are_converted_as_load_image_converts_them(model, frames):
    """A half-transparent RGBA frame is composited over white, as zoo.segment sees it."""
    rgba = Image.fromarray(frames[0]).convert("RGBA")
    rgba.putalpha(128)
    (result,) = zoo.segment_frames(model, [rgba])
    np.testing.assert_array_equal(result.mask, zoo.segment(model, rgba, mode="whole").mask)
    assert np.asarray(result.image).mean() > frames[0].mean() + 40  # lightened by the white
    with pytest.raises(zoo.InvalidImageError, match="Frame 0 is 4000×2 pixels, an aspect"):
        next(zoo.segment_frames(model, [np.zeros((2, 4000, 3), np.uint8)]))


def test_onnxruntime_missing_is_said_at_the_call(model, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(zoo.MissingExtraError, match=r"vision-zoo\[onnx\]"):
        zoo.segment_frames(model, iter(()), backend="onnxruntime")
    with pytest.raises(zoo.ConfigError, match="backend must be one of"):
        zoo.segment_frames(model, iter(()), backend="tensorrt")
