"""Gradio's image cache written whole: a fix for a race in Gradio 6's ``save_pil_to_cache``.

Gradio saves every output image under a folder named by the hash of its bytes, rewriting the
file in place (truncate, then write) even when it is already there. Two requests whose outputs
are the same image — a crowd clicking the same example, a still webcam scene — then race: while
one rewrites the file, another's download reads it short and fails ("peer closed connection
without sending complete message body"; measured with 4 clients sending the same /segment
request). Gradio's own ``save_file_to_cache`` already writes a temporary and renames it; this
gives its image path the same behaviour: an image whose file exists is not written again (same
hash, same bytes), and a new one appears whole, by rename.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from PIL import Image

import zoo

_installed = False


def save_pil_to_cache(
    img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp"
) -> str:
    """What ``gradio.processing_utils.save_pil_to_cache`` does, written atomically."""
    from gradio import processing_utils

    data = processing_utils.encode_pil_to_bytes(img, format)
    path = (Path(cache_dir) / processing_utils.hash_bytes(data) / f"{name}.{format}").resolve()
    if path.is_file():
        with contextlib.suppress(OSError):
            os.utime(path)  # Gradio's delete_cache ages files by ctime: a reused one is new
        return str(path)
    with zoo.atomic_write(path, fsync=False) as out:
        out.write(data)
    return str(path)


def install() -> None:
    """Make Gradio's image outputs use :func:`save_pil_to_cache` (once per process)."""
    global _installed
    if _installed:
        return
    from gradio import processing_utils

    patched: Any = save_pil_to_cache
    processing_utils.save_pil_to_cache = patched
    _installed = True
