"""The one-way layout rule (app.py → demo → zoo, train → zoo) and a side-effect-free import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "zoo": {"demo", "train", "gradio", "gradio_client", "accelerate", "app"},
    "demo": {"train"},
    "train": {"demo", "gradio", "app"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_follow_the_layout(package):
    files = sorted((ROOT / package).rglob("*.py"))
    if package != "train":
        assert files, f"{package}/ has no Python files"
    for path in files:
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_import_zoo_opens_no_socket_and_skips_gradio():
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise AssertionError('network access at import time')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import zoo\n"
        "assert 'gradio' not in sys.modules, 'zoo imported gradio'\n"
        "assert 'accelerate' not in sys.modules\n"
        "print(len(zoo.__all__))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
