"""The README runs as written: every fenced Python and shell block, in order, in an empty
directory, offline (the local Hub server stands in for the Hub), by scripts/run_readme.py, and
the output it shows below a print or a command is what runs."""

from __future__ import annotations

import ast
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
        "```text\nnot run\n```\n<!-- readme-test: skip, demo -->\n```python\nx = 1\n```\n"
        "\n<!-- readme-test: demo -->\n```python\nx = 2\n```\n\n```py\nx = 3\n```\n"
    )
    found = run_readme.blocks(text)
    assert [(b.language, b.markers, b.line, b.library) for b in found] == [
        ("bash", frozenset({"skip"}), 5, False),
        ("python", frozenset({"skip", "demo"}), 13, False),
        ("python", frozenset({"demo"}), 18, False),
        ("python", frozenset(), 22, True),
    ]
    with pytest.raises(ValueError, match="never closed"):
        run_readme.blocks("```python\nx = 1\n")
    for marker in ("skipp", "quick-start"):  # quick-start: the library rule replaced it
        with pytest.raises(ValueError, match=f"unknown readme-test marker '{marker}'"):
            run_readme.blocks(f"<!-- readme-test: {marker} -->\n```python\nx = 1\n```\n")


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


def _run(markdown: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_readme.py"), str(markdown), *options],
        cwd=markdown.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRINTS = """```python
top = [("tiger cat", 0.3789229691028595), ("Egyptian cat", 0.36763548851013184)]
print([(label, round(p, 2)) for label, p in top])
# [('tiger cat', 0.38), ('Egyptian cat', 0.37)]
top  # a bare expression: its comment is prose, not output
# not checked
```

```bash
echo 'photos/photo.jpg: person 54.5%'; echo 'wrote 1 result(s)'  # inline: not checked
# photos/photo.jpg: person 54.5%
# wrote 1 result(s)

# prose after a blank line
echo done
```
"""


def test_shown_output_that_matches_passes(tmp_path):
    markdown = tmp_path / "doc.md"
    markdown.write_text(PRINTS, encoding="utf-8")
    run = _run(markdown)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[('tiger cat', 0.38), ('Egyptian cat', 0.37)]" in run.stdout and "done" in run.stdout


@pytest.mark.parametrize(
    ("shown", "wrong", "message"),
    [
        ("# [('tiger cat', 0.38), ", "# [('tiger cat', 0.39), ", "doc.md:3 prints"),
        ("# photos/photo.jpg: person 54.5%", "# photos/photo.jpg: person 55%", "doc.md:11 shows"),
        ("# wrote 1 result(s)", "# wrote 2 result(s)", "doc.md:12 shows"),
    ],
)
def test_shown_output_that_differs_fails_and_names_its_line(tmp_path, shown, wrong, message):
    markdown = tmp_path / "doc.md"
    markdown.write_text(PRINTS.replace(shown, wrong), encoding="utf-8")
    run = _run(markdown)
    assert run.returncode == 1 and message in run.stdout, run.stdout + run.stderr
    assert "FAILED: the block at doc.md:" in run.stdout


def test_library_blocks_run_alone(tmp_path):
    markdown = tmp_path / "doc.md"
    markdown.write_text(
        "```python\nprint('lib')\n```\n\n```bash\necho shell\n```\n\n"
        "<!-- readme-test: demo -->\n```python\nprint('demo')\n```\n",
        encoding="utf-8",
    )
    run = _run(markdown, "--library")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "lib" in run.stdout and "shell" not in run.stdout and "demo" not in run.stdout


def test_only_the_set_up_block_is_skipped():
    found = run_readme.blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    skipped = [b for b in found if "skip" in b.markers]
    assert len(skipped) == 1 and "make demo" in skipped[0].source
    assert len(found) >= 10


#: What a reader of the README has only in a checkout (or with the demo installed), not with
#: the wheel and the extras the quick-start names.
CHECKOUT_ONLY = {"demo", "train", "app", "benchmarks", "scripts", "tests", "gradio",
                 "gradio_client"}  # fmt: skip


def test_library_blocks_need_only_the_wheel():
    found = run_readme.blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    library = [b for b in found if b.library]
    assert len(library) >= 5 and all(b.language == "python" for b in library)
    assert [b for b in found if b.language == "python" and not b.library] == [
        b for b in found if "demo" in b.markers
    ]  # every Python block but the demo's
    for block in library:
        imported = set()
        for node in ast.walk(ast.parse(block.source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        bad = imported & CHECKOUT_ONLY
        assert not bad, f"README.md:{block.line} imports {sorted(bad)}, not in the wheel"


def test_the_readme_shows_checked_outputs_for_classify_and_class_shares():
    """The quick-start's claims are printed (so the run compares them), not bare comments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = []
    for block in run_readme.blocks(text):
        if block.language != "python":
            continue
        source = "\n" * (block.line - 1) + block.source
        lines = source.splitlines()
        for statement, shown in run_readme.python_claims(source):
            if shown:
                checked.append(ast.get_source_segment(source, statement))
            elif isinstance(statement, ast.Expr):  # a script prints nothing for a bare value
                below = run_readme.comments_below(lines, statement.end_lineno or 0)
                assert not (below and below[0].startswith(("[", "{", "(", "'", '"'))), (
                    f"README.md:{statement.lineno} shows a value below a bare expression, "
                    "which a script never prints: print() it, so the run compares it"
                )
    assert any("top3" in c for c in checked) and any("shares" in c for c in checked), checked


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
