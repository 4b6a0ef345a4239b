"""The Video tab's run folders: each run writes into a folder of its own, and a server removes
only the folders it made (another server's, or a user's folder under the same root, stay)."""

from __future__ import annotations

import os
import time
from collections import deque

from demo import video_tab


def test_run_folders_are_fresh_and_a_server_removes_only_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(video_tab, "OUTPUT_ROOT", tmp_path)
    monkeypatch.setattr(video_tab, "_RUNS", deque(), raising=False)
    theirs = tmp_path / "run-from-another-server"
    theirs.mkdir()
    (theirs / "0-model.mp4").write_bytes(b"their video")
    hour_ago = time.time() - 2 * video_tab.KEEP_OUTPUTS_S
    os.utime(theirs, (hour_ago, hour_ago))
    first, second = video_tab._run_folder(), video_tab._run_folder()
    assert first != second and first.is_dir() and second.is_dir()
    monkeypatch.setattr(video_tab, "KEEP_OUTPUTS_S", 0.0)  # this server's runs are now old
    third = video_tab._run_folder()
    assert not first.exists() and not second.exists() and third.is_dir()
    assert (theirs / "0-model.mp4").read_bytes() == b"their video"
