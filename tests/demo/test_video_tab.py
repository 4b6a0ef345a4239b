"""The Video tab's ``/segment_video`` endpoint through gradio_client, and the example clip."""

from __future__ import annotations

import sys

import numpy as np
import pytest

av = pytest.importorskip("av", reason="pip install 'vision-zoo[demo]'")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

import zoo  # noqa: E402
from demo.examples import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE, example_clip  # noqa: E402
from tests.zoo.clips import probe  # noqa: E402

TWO = ["mediapipe_selfie.general_256", "mediapipe_selfie.landscape_144x256"]
FAST = TWO[1]


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = example_clip(tmp_path_factory.mktemp("clip"))
    assert path is not None
    return path


def _run(client, path, models, alpha=0.5):
    """(raw JSON, notice, [(line, video path or None), ...]) of one call."""
    raw, notice, *cards = client.predict(
        handle_file(str(path)), models, alpha, api_name="/segment_video"
    )
    return raw, notice, list(zip(cards[0::2], cards[1::2], strict=True))


def _write_clip(path, seconds, fps, size):
    """A plain H.264 clip of moving noise."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(int(seconds * fps)):
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_example_clip_is_written_once_and_plays(clip):
    frames = CLIP_SECONDS * CLIP_FPS
    assert probe(clip) == ("h264", float(CLIP_FPS), frames, CLIP_SIZE)
    stamp = clip.stat().st_mtime_ns
    assert example_clip(clip.parent) == clip and clip.stat().st_mtime_ns == stamp
    assert [p.name for p in clip.parent.iterdir()] == [clip.name]  # no temporaries left


def test_example_clip_without_pyav(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    assert example_clip(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_example_clip_through_two_models(client, clip):
    raw, notice, cards = _run(client, clip, TWO)
    assert "astronaut_pan.mp4" in notice and "Cut" not in notice
    _, fps, frames, size = probe(clip)
    assert [r["name"] for r in raw["results"]] == TWO
    for result, (line, video) in zip(raw["results"], cards, strict=True):
        assert result["ok"] and result["frames"] == frames and result["fps"] == fps
        assert not result["truncated"] and result["processing_fps"] > 0
        assert set(result["class_shares"]) == {"background", "person"}
        assert result["name"] in line and "frames/s" in line
        assert f"per frame (median of {frames})" in line and "first frame" in line
        assert result["median_frame_ms"] > 0 and result["first_frame_ms"] > 0
        assert "M params" in line
        assert probe(video) == ("h264", fps, frames, size)


def test_non_video_uploads_are_readable_errors_and_the_server_survives(
    client, clip, photos, tmp_path
):
    text = tmp_path / "notes.mp4"
    text.write_text("hello, not a video\n")
    still = tmp_path / "photo.mp4"
    still.write_bytes(photos["astronaut.png"].read_bytes())
    for path, message in [
        (text, r"notes\.mp4 is not a video this server can decode; expected MP4"),
        (still, r"photo\.mp4 is not a video \(a still image\)"),
    ]:
        with pytest.raises(AppError, match=message) as caught:
            _run(client, path, [FAST])
        assert "/tmp" not in str(caught.value)  # the upload's name, not the server's path
    raw, _, cards = _run(client, clip, [FAST])  # still serving
    assert raw["results"][0]["ok"] and cards[0][1] is not None


def test_model_without_weights_says_why(client, clip):
    raw, _, cards = _run(client, clip, ["deeplabv3plus_tf_efficientnet_lite0", FAST])
    (bad_line, bad_video), (good_line, good_video) = cards
    assert "Unavailable" in bad_line and "no pretrained weights" in bad_line
    assert bad_video is None and not raw["results"][0]["ok"]
    assert FAST in good_line and good_video is not None


def test_a_saved_model_directory_can_be_typed_in(client, clip, tmp_path):
    model = zoo.create_model("fcn", backbone="resnet18", num_classes=3, output_stride=32)
    zoo.save_pretrained(model, tmp_path / "best", labels=["background", "rock", "sky"],
                        input_size=(3, 64, 64))  # fmt: skip
    name = f"local-dir:{tmp_path / 'best'}"
    raw, _, cards = _run(client, clip, [name])
    assert raw["results"][0]["ok"], raw["results"][0]["error"]
    assert set(raw["results"][0]["class_shares"]) <= {"background", "rock", "sky"}
    assert "frames/s" in cards[0][0] and probe(cards[0][1])[2] == CLIP_SECONDS * CLIP_FPS


def test_long_clip_is_cut_with_a_notice(client, tmp_path):
    path = _write_clip(tmp_path / "long.mp4", seconds=21, fps=2, size=(64, 48))
    raw, notice, cards = _run(client, path, [FAST])
    assert "Cut" in notice and "first 20 s (40 frames)" in notice
    assert raw["results"][0]["truncated"] and raw["results"][0]["frames"] == 40
    assert probe(cards[0][1])[2] == 40


def test_frames_beyond_full_hd_are_refused(client, tmp_path):
    path = _write_clip(tmp_path / "big.mp4", seconds=1, fps=1, size=(1922, 1080))
    with pytest.raises(AppError, match=r"frames of 1922×1080; the limit here is 1920×1080"):
        _run(client, path, [FAST])


def test_model_choice_limits(client, clip):
    with pytest.raises(AppError, match="at most 2"):
        _run(client, clip, [*TWO, "fcn_resnet50.tv_coco_voc_520"])
    with pytest.raises(AppError, match="at least one"):
        _run(client, clip, [])
    with pytest.raises(AppError, match="Upload a video"):
        client.predict(None, [FAST], 0.5, api_name="/segment_video")


def test_paths_outside_the_upload_cache_are_refused(app_url, clip):
    """The event skips Gradio's preprocessing; a client-sent server path must not be read
    (Gradio refuses it while moving FileData into its cache; demo.uploads is the second guard)."""
    import json
    import urllib.request

    payload = {"path": str(clip), "meta": {"_type": "gradio.FileData"}}
    body = json.dumps({"data": [payload, [FAST], 0.5, "pytorch"]}).encode()
    request = urllib.request.Request(
        f"{app_url}gradio_api/call/segment_video",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    event_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    url = f"{app_url}gradio_api/call/segment_video/{event_id}"
    with urllib.request.urlopen(url, timeout=60) as response:
        stream = response.read().decode()
    assert "event: error" in stream and "event: complete" not in stream


def test_the_handler_refuses_paths_gradio_did_not_store(clip):
    import gradio as gr

    from demo.video_tab import _video_path

    for payload in ({"path": str(clip)}, {"video": {"path": "/etc/hostname"}}):
        with pytest.raises(gr.Error, match="Only files uploaded to this app"):
            _video_path(payload)
