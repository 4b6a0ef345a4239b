"""No silently wrong answers: pixel values read by their range, videos segmented upright at
their own timing and size, size caps that hold at every test-time scale, damaged or odd ONNX
exports detected and run correctly or refused up front."""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo

from . import clips
from .test_segment import tiny


@pytest.fixture(scope="module")
def person():
    return zoo.create_model("mediapipe_selfie", pretrained=True).eval()


@pytest.fixture(scope="module")
def hopper():
    """Grace Hopper's portrait (matplotlib's sample data), a person photo taller than wide."""
    from matplotlib.cbook import get_sample_data

    with get_sample_data("grace_hopper.jpg", asfileobj=True) as handle:
        return Image.open(handle).convert("RGB").resize((192, 224))


# -- pixel values -----------------------------------------------------------------------------
def test_a_16_bit_photo_in_an_int64_array_segments_like_the_8_bit_photo(person, hopper):
    pixels = np.asarray(hopper)
    wide = pixels.astype(np.int64) * 257  # the same photo at 16 bits per channel
    assert np.array_equal(np.asarray(zoo.load_image(wide)), pixels)
    assert np.array_equal(np.asarray(zoo.load_image(pixels.astype(np.int32))), pixels)
    expected = zoo.segment(person, pixels).mask
    assert np.array_equal(zoo.segment(person, wide).mask, expected)
    shares = zoo.segment(person, wide).class_shares()
    assert shares["person"] > 0.4  # not all background
    assert all(type(share) is float for share in shares.values())  # prints as 0.45, not np.float64


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((8, 8, 3), 70_000, np.int64), "values from 70000 to 70000"),
        (np.full((8, 8, 3), -3, np.int32), "values from -3"),
        (np.full((8, 8, 3), -2.1, np.float32), "normalised"),
        (np.full((8, 8, 3), 300.0), "0–1 \\(or 0–255\\)"),
    ],
)
def test_an_array_outside_any_pixel_range_is_refused_with_its_range(array, message):
    with pytest.raises(zoo.InvalidImageError, match=message):
        zoo.load_image(array)


def test_an_8000x8000_float_array_is_refused_before_any_copy():
    array = np.zeros((8000, 8000), np.float64)  # 512 MB, 64 megapixels
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(zoo.InvalidImageError, match=r"64\.0 megapixels"):
            zoo.load_image(array)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and time.monotonic() - start < 1.0  # nothing copied


def test_test_time_scales_count_against_the_size_cap(person, hopper, monkeypatch):
    monkeypatch.setattr(sys.modules["zoo.segment"], "MAX_PIXELS", 100_000, raising=False)
    image = hopper.resize((250, 300))  # 75,000 pixels; the person model runs the whole image
    assert zoo.segment(person, image, tta=(0.5, 1.0)).mask.shape == (300, 250)
    with pytest.raises(zoo.InvalidImageError, match=r"scale 2 .* 500×600"):
        zoo.segment(person, image, tta=(0.5, 1.0, 2.0))


# -- videos -----------------------------------------------------------------------------------
av = pytest.importorskip("av", reason="pip install 'vision-zoo[video]'")


def test_a_portrait_phone_clip_is_segmented_upright_and_written_portrait(tmp_path, person, hopper):
    clip = clips.rotated_clip(tmp_path / "phone.mp4", hopper)  # stored 224×192 + rotation
    result = zoo.segment_video(person, clip, tmp_path / "o.mp4", mask_dst=tmp_path / "m.mp4",
                               progress=False)  # fmt: skip
    assert result.size == (192, 224)
    frames, size, rotation = clips.frames_and_size(tmp_path / "o.mp4")
    assert (frames, size, rotation) == (6, (192, 224), 0)  # upright pixels, no rotation left
    with av.open(str(tmp_path / "m.mp4")) as container:
        colours = next(container.decode(container.streams.video[0])).to_ndarray(format="rgb24")
    palette = np.asarray(zoo.get_palette(person))  # (K, 3)
    got = np.argmin(((colours[:, :, None].astype(int) - palette) ** 2).sum(-1), -1)
    upright = zoo.segment(person, hopper).mask
    sideways = np.rot90(zoo.segment(person, np.rot90(np.asarray(hopper), -1).copy()).mask)
    assert (got == upright).mean() > 0.99 and (got == upright).mean() > (got == sideways).mean()


def test_a_variable_frame_rate_clip_keeps_its_length_and_timing(tmp_path, person, hopper):
    times = [0.0, 0.1, 0.2, 0.9, 1.0, 1.5, 1.9]
    clip = clips.variable_rate_clip(tmp_path / "vfr.mp4", hopper, times)
    result = zoo.segment_video(person, clip, tmp_path / "o.mp4", progress=False)
    assert result.frames == 7 and result.duration == pytest.approx(2.0, abs=0.05)
    assert clips.frame_times(tmp_path / "o.mp4") == pytest.approx(times, abs=0.002)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_a_clip_whose_size_changes_mid_stream_is_segmented_frame_by_frame(
    tmp_path, person, hopper, batch_size
):
    wide = Image.new("RGB", (224, 96))  # the second part: the person at the right edge
    wide.paste(hopper.resize((82, 96)), (142, 0))
    clip = clips.size_change_clip(tmp_path / "spliced.ts", [hopper.resize((96, 112)), wide])
    result = zoo.segment_video(person, clip, tmp_path / "o.mp4", batch_size=batch_size,
                               progress=False)  # fmt: skip
    assert result.frames == 12 and result.size == (96, 112)  # the first frame's size
    assert clips.frames_and_size(tmp_path / "o.mp4")[:2] == (12, (96, 112))
    expected = zoo.segment(person, wide.resize((96, 112))).class_shares()["person"]
    later = result.class_shares[-1].get("person", 0.0)
    assert later == pytest.approx(expected, abs=0.03)  # scaled whole, not cut to its left corner


@pytest.mark.parametrize("kind", ["avi", "mkv"])
def test_a_clip_without_frames_says_so(tmp_path, person, kind):
    if kind == "avi":
        clip = clips.frameless_clip(tmp_path / "empty.avi")
    else:
        clip = tmp_path / "empty.mkv"
        with av.open(str(clip), "w", format="matroska") as container:
            stream = container.add_stream("libx264", rate=12)
            stream.width, stream.height = 64, 48
            container.start_encoding()
    with pytest.raises(zoo.InvalidVideoError, match="has no video frames"):
        zoo.segment_video(person, clip, tmp_path / "o.mp4", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.name]  # nothing written


# -- ONNX exports -----------------------------------------------------------------------------
ort = pytest.importorskip("onnxruntime", reason="pip install 'vision-zoo[onnx]'")


def test_a_damaged_cached_onnx_export_is_exported_again_and_said_so(
    tmp_path, monkeypatch, caplog, hopper
):
    from zoo.runtime import cached_export

    monkeypatch.setenv("ZOO_ONNX_CACHE", str(tmp_path))
    model = tiny(input_size=(3, 64, 64))
    expected = zoo.segment(model, hopper, backend="onnxruntime").mask
    path = cached_export(model)
    path.write_bytes(path.read_bytes()[:1000])  # truncated (a full disk, a killed copy)
    again = tiny(input_size=(3, 64, 64))  # a new process would load the same weights
    with caplog.at_level("WARNING", logger="zoo"):
        mask = zoo.segment(again, hopper, backend="onnxruntime").mask
    assert np.array_equal(mask, expected)
    assert "damaged" in caplog.text and path.name in caplog.text
    path.write_bytes(b"")  # emptied
    assert np.array_equal(zoo.segment(tiny(input_size=(3, 64, 64)), hopper,
                                      backend="onnxruntime").mask, expected)  # fmt: skip


@pytest.fixture(scope="module")
def static_export(tmp_path_factory):
    model = tiny(input_size=(3, 64, 64))
    path = tmp_path_factory.mktemp("static") / "tiny-static.onnx"
    zoo.export(model, path, dynamic=False)
    return model, zoo.ORTModel(path)


def test_segment_video_runs_a_fixed_size_onnx_export(tmp_path, static_export, hopper):
    model, session = static_export
    clip = clips.variable_rate_clip(tmp_path / "square.mp4", hopper.resize((64, 64)),
                                    [i / 12 for i in range(8)])  # fmt: skip
    on_ort = zoo.segment_video(session, clip, tmp_path / "o.mp4", batch_size=4, progress=False)
    on_torch = zoo.segment_video(model, clip, None, batch_size=4, progress=False)
    assert on_ort.frames == 8
    for a, b in zip(on_ort.class_shares, on_torch.class_shares, strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 0.01 for k in a)


def test_sliding_windows_run_on_a_fixed_size_onnx_export(static_export, hopper):
    model, session = static_export
    image = hopper.resize((150, 100))  # resized to 96×64: two 64×64 windows, batched
    on_ort = zoo.segment(session, image, mode="slide", batch_size=4)
    on_torch = zoo.segment(model, image, mode="slide", batch_size=4)
    assert (on_ort.mask == on_torch.mask).mean() > 0.999
    with pytest.raises(zoo.ConfigError, match="64×64 inputs only"):
        zoo.segment(session, image, mode="slide", crop=(48, 48))


def test_an_export_recorded_at_1x1_is_refused_up_front(tmp_path, hopper):
    import onnx

    model = tiny(input_size=(3, 64, 64))
    with pytest.raises(zoo.ConfigError, match="too small"):
        zoo.export(model, tmp_path / "one.onnx", input_size=(1, 1))
    assert not (tmp_path / "one.onnx").exists()
    # a file an older zoo wrote at 1×1: named as such, not as a crop the user never passed
    zoo.export(model, tmp_path / "old.onnx")
    proto = onnx.load(str(tmp_path / "old.onnx"))
    for entry in proto.metadata_props:
        if entry.key == "vision_zoo.input_size":
            entry.value = "[3, 1, 1]"
    onnx.save(proto, str(tmp_path / "old.onnx"))
    with pytest.raises(zoo.ConfigError, match="records an input size of 1×1"):
        zoo.segment(zoo.ORTModel(tmp_path / "old.onnx"), hopper)


def test_a_fixed_size_export_runs_batches_one_item_at_a_time(static_export):
    model, session = static_export
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    assert (session(x) - expected).abs().max() < 1e-4


def test_paths_of_written_videos_are_in_the_result(tmp_path, person, hopper):
    clip = clips.variable_rate_clip(tmp_path / "c.mp4", hopper, [0.0, 0.5])
    result = zoo.segment_video(person, clip, tmp_path / "o.mp4", progress=False)
    assert result.path == Path(tmp_path / "o.mp4") and result.frames == 2
