"""zoo.examples.example_clip: a short browser-playable clip from a photo, written atomically."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.examples import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE, example_clip

from .clips import probe

av = pytest.importorskip("av", reason="pip install 'vision-zoo[video]'")

PHOTO = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)


def test_a_short_clip_plays_and_segments(tmp_path):
    clip = example_clip(PHOTO, tmp_path / "pan.mp4", seconds=1, fps=6, size=(96, 64))
    assert clip == tmp_path / "pan.mp4"
    assert probe(clip) == ("h264", 6.0, 6, (96, 64))
    assert [p.name for p in tmp_path.iterdir()] == ["pan.mp4"]  # no temporaries left
    model = zoo.create_model("mediapipe_selfie", pretrained=True)
    result = zoo.segment_video(model, clip, progress=False)
    assert result.frames == 6 and result.size == (96, 64)


def test_the_default_clip_from_a_file(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(PHOTO).save(photo)
    clip = example_clip(photo, tmp_path / "pan.mp4")
    assert probe(clip) == ("h264", float(CLIP_FPS), CLIP_SECONDS * CLIP_FPS, CLIP_SIZE)


def test_an_existing_file_is_left_alone_unless_overwrite(tmp_path):
    mine = tmp_path / "pan.mp4"
    mine.write_bytes(b"my own file")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        example_clip(PHOTO, mine, seconds=0.5, fps=4, size=(32, 32))
    assert mine.read_bytes() == b"my own file"
    example_clip(PHOTO, mine, seconds=0.5, fps=4, size=(32, 32), overwrite=True)
    assert probe(mine)[2] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["pan.mp4"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 0}, "seconds must be"),
        ({"fps": 0}, "fps must be"),
        ({"fps": 2.5}, "fps must be"),
        ({"size": (97, 64)}, "even positive"),
        ({"size": (0, 64)}, "even positive"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, match):
    with pytest.raises(zoo.ConfigError, match=match):
        example_clip(PHOTO, tmp_path / "pan.mp4", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_without_pyav_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    with pytest.raises(zoo.MissingExtraError, match=r"vision-zoo\[video\]"):
        example_clip(PHOTO, tmp_path / "pan.mp4")
    assert list(tmp_path.iterdir()) == []
