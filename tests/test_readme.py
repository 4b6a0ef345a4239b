"""The README runs as written: every fenced Python and shell block, in order, in an empty
directory, offline (the local Hub server stands in for the Hub), by scripts/run_readme.py."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import run_readme  # noqa: E402


def test_marker_parsing(tmp_path):
    text = (
        "# T\n\n<!-- readme-test: skip (set-up) -->\n```bash\nmake demo\n```\n\n"
        "```text\nnot run\n```\n<!-- readme-test: quick-start, demo -->\n```python\nx = 1\n```\n"
    )
    found = run_readme.blocks(text)
    assert [(b.language, b.markers, b.line) for b in found] == [
        ("bash", frozenset({"skip"}), 5),
        ("python", frozenset({"quick-start", "demo"}), 13),
    ]
    with pytest.raises(ValueError, match="never closed"):
        run_readme.blocks("```python\nx = 1\n")
    with pytest.raises(ValueError, match="unknown readme-test marker 'skipp'"):
        run_readme.blocks("<!-- readme-test: skipp -->\n```python\nx = 1\n```\n")


def test_a_failing_block_fails_the_run_and_names_its_line(tmp_path):
    markdown = tmp_path / "doc.md"
    markdown.write_text("```python\nprint('one')\n```\n\n```bash\nfalse\n```\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_readme.py"), str(markdown)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "FAILED: the block at doc.md:6" in run.stdout and "one" in run.stdout


@pytest.mark.parametrize("content", [None, b"\xff\xfe not text", b"```python\nx = 1\n"])
def test_an_unreadable_markdown_is_one_line_and_exit_2(tmp_path, content):
    markdown = tmp_path / "doc.md"
    if content is not None:
        markdown.write_bytes(content)
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_readme.py"), str(markdown)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: cannot read the blocks of") and run.stderr.count("\n") == 1


def test_only_the_set_up_block_is_skipped():
    found = run_readme.blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    skipped = [b for b in found if "skip" in b.markers]
    assert len(skipped) == 1 and "make demo" in skipped[0].source
    assert len(found) >= 10 and any("quick-start" in b.markers for b in found)


@pytest.mark.slow
def test_every_readme_block_runs_offline(hub_server, tmp_path):
    env = {**os.environ, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    work = tmp_path / "reader"
    work.mkdir()
    log = tmp_path / "readme.log"
    command = [sys.executable, str(ROOT / "scripts" / "run_readme.py"), str(ROOT / "README.md")]
    with log.open("w") as out:
        try:
            code = subprocess.run(
                [*command, "--checkout", str(ROOT)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1800,
            ).returncode
        except subprocess.TimeoutExpired:
            code = "timeout (1800 s)"
    text = log.read_text()
    print("\n".join(line for line in text.splitlines() if line.startswith(("---", "    ok"))))
    assert code == 0, f"exit {code}:\n{text[-8000:]}"
    assert (work / "overlay.mp4").stat().st_size > 0
    # What the README says its two training commands reach (they replaced the slow tests of
    # the same runs in tests/train/test_fit.py):
    digits = read_metrics(work / "runs" / "digits" / "metrics.csv")
    assert max(float(r["top1"]) for r in digits) >= 0.97
    canvas = read_metrics(work / "runs" / "canvas" / "metrics.csv")
    assert max(float(r["mIoU"]) for r in canvas) >= 0.80 and float(canvas[-1]["pixel_acc"]) > 0.95
    best = f"local-dir:{work / 'runs' / 'canvas' / 'best'}"
    assert zoo.model_info(best).task == "segmentation"
    saved = zoo.create_model(best)
    assert zoo.get_labels(saved)[0] == "background" and len(zoo.get_palette(saved)) == 11


def read_metrics(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
