"""The Live tab's pieces without a browser: each visitor's model streams, the overlays, the
frame rate, the slow-model stop and the example clip played in real time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

import zoo
from demo import live_tab
from demo.live_tab import FpsMeter, Sessions, step_all
from demo.models import ModelCache
from demo.policy import Policy

SELFIE = "mediapipe_selfie.general_256"


@pytest.fixture(scope="module")
def frames(photos):
    photo = Image.open(photos["astronaut.png"]).convert("RGB")
    return [np.asarray(photo.crop((10 * i, 0, 10 * i + 320, 240))) for i in range(5)]


@pytest.fixture(scope="module")
def sessions():
    return Sessions(ModelCache(), Policy())


def test_each_frame_gives_an_overlay_per_model_and_figures(sessions, frames):
    cards = sessions.cards("alice", [SELFIE, "no_such_model"], "pytorch")
    for frame in frames:
        image, head, missing_image, missing_head, figures = step_all(cards, frame)
    assert image.shape == frames[-1].shape and image.dtype == np.uint8
    assert not np.array_equal(image, frames[-1])  # the mask is drawn over the frame
    assert SELFIE in head and "frames/s" in head and "ms per frame (median of 4)" in head
    assert missing_image is None and "Unavailable" in missing_head
    assert "no_such_model" in missing_head
    (ran, failed) = figures["results"]
    assert ran["name"] == SELFIE and ran["ok"] and ran["frames"] == len(frames) and ran["fps"] > 0
    assert not failed["ok"] and "Unknown model" in failed["error"]
    assert sessions.cards("alice", [SELFIE, "no_such_model"], "pytorch") is cards  # kept
    assert sessions.cards("alice", [SELFIE], "pytorch") is not cards  # new choice: new streams


def test_overlay_is_the_libraries_blend(frames):
    model = zoo.create_model(SELFIE, pretrained=True)
    cards = Sessions(ModelCache(), Policy()).cards("erin", [SELFIE], "pytorch")
    ours = step_all(cards, frames[0])[0].astype(int)
    result = zoo.segment(model, frames[0])
    theirs = np.asarray(result.overlay(live_tab.OPACITY)).astype(int)
    assert np.abs(ours - theirs).max() <= 2  # the frame as zoo.segment_frames saw it, same picture


def test_a_model_too_slow_for_live_is_stopped(sessions, frames, monkeypatch):
    monkeypatch.setattr(live_tab, "MAX_LIVE_MS", 0.0)
    monkeypatch.setattr(live_tab, "SLOW_FRAME_FACTOR", float("inf"))  # the median rule alone
    cards = sessions.cards("bob", [SELFIE], "pytorch")
    for i in range(live_tab.MIN_FRAMES_TO_STOP):
        image, head, *_ = step_all(cards, frames[i % len(frames)])
        assert image is not None  # the first (cold) frame and the next seven are not judged
    image, head, *_ = step_all(cards, frames[0])
    assert image is None and "too slow for live" in head and "Segment or Video tab" in head


def test_one_very_slow_warm_frame_stops_a_model_at_once(sessions, frames, monkeypatch):
    monkeypatch.setattr(live_tab, "MAX_LIVE_MS", 0.0)
    cards = sessions.cards("carol", [SELFIE], "pytorch")
    assert step_all(cards, frames[0])[0] is not None  # the cold first frame is not judged
    image, head, *_ = step_all(cards, frames[1])
    assert image is None and "too slow for live" in head


def test_a_model_that_breaks_is_stopped_and_the_stream_goes_on(sessions, frames, caplog):
    cards = sessions.cards("dave", [SELFIE, "mediapipe_selfie.landscape_144x256"], "pytorch")
    step_all(cards, frames[0])
    broken = cards[0].result
    assert broken is not None

    def fails():
        raise RuntimeError("the backend crashed")
        yield  # a generator, like segment_frames' stream

    broken.results = fails()
    for frame in frames[1:4]:  # the broken model's card says so; the other keeps running
        first, first_head, second, second_head, figures = step_all(cards, frame)
        assert first is None and "failed on a frame (RuntimeError)" in first_head
        assert second is not None and "frames/s" in second_head
    failed = [r for r in caplog.records if "live stream of" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info  # logged once, with its traceback
    assert [r["ok"] for r in figures["results"]] == [False, True]


def test_fps_meter_counts_the_last_two_seconds():
    meter = FpsMeter()
    meter.add(500.0, now=0.0)  # the cold first frame is kept apart
    for i in range(1, 41):  # 20 frames/s for 2 s
        meter.add(10.0 + i % 3, now=i * 0.05)
    assert meter.fps == pytest.approx(20.0) and meter.median_ms == 11.0
    assert meter.first_ms == 500.0 and meter.frames == 41
    meter.add(10.0, now=10.0)  # a pause: the old frames leave the window
    assert meter.fps == 0.0


def test_the_example_clip_plays_in_real_time(tmp_path):
    pytest.importorskip("av")
    from demo.examples import CLIP_FPS, CLIP_SECONDS, example_clip

    clip = example_clip(tmp_path)
    start = time.perf_counter()
    count = sum(1 for _ in live_tab.clip_frames(str(clip), seconds=1.0))
    elapsed = time.perf_counter() - start
    assert 0.9 <= elapsed <= 3.0  # paced like a camera (not decoded at full speed), cut at 1 s
    assert 5 <= count <= CLIP_FPS + 1  # about one second of the 12 fps clip

    def slow():  # a model 3× slower than the clip, over the whole clip
        for frame in live_tab.clip_frames(str(clip), seconds=60.0):
            time.sleep(3.0 / CLIP_FPS)
            yield frame

    start = time.perf_counter()
    shown = sum(1 for _ in slow())
    # without dropping, all 48 frames would take 12 s; the frames it fell behind on are dropped
    assert shown <= CLIP_SECONDS * CLIP_FPS // 2 and time.perf_counter() - start < 8.0
