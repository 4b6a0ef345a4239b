"""Gradio's image cache written whole: a cached output is never rewritten under a reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gradio import processing_utils

from demo import build_demo, gradio_cache, ui


def test_the_same_image_again_leaves_the_cached_file_alone(tmp_path):
    demo = build_demo()  # installs the fix
    # a Live stream writes an upload and an output per frame: old ones must go
    assert demo.delete_cache == ui.CACHE_CLEANUP and ui.CACHE_CLEANUP[1] <= 3600
    assert processing_utils.save_pil_to_cache is gradio_cache.save_pil_to_cache
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    path = Path(processing_utils.save_img_array_to_cache(pixels, str(tmp_path), format="png"))
    assert path.read_bytes().startswith(b"\x89PNG")
    # Gradio's own version truncates and rewrites this file for every request with the same
    # output, so a concurrent download of it reads it short; the fix leaves it as it is
    path.write_bytes(b"a download in progress")
    again = processing_utils.save_img_array_to_cache(pixels, str(tmp_path), format="png")
    assert Path(again) == path and path.read_bytes() == b"a download in progress"
    other = Path(processing_utils.save_img_array_to_cache(255 - pixels, str(tmp_path)))
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted([path, other])  # no temporaries left beside them
