"""With only the core install (no ``train`` extra), ``--help`` works and a run says in one line
which extra to install, for ``python -m train`` and ``python -m train.validate``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HIDE = "import sys; sys.modules.update(accelerate=None, torchmetrics=None); import runpy; "


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = HIDE + f"sys.argv = [{module!r}, *{list(args)!r}]; runpy.run_module({module!r}, " \
        "run_name='__main__', alter_sys=True)"  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip


@pytest.mark.parametrize("module", ["train", "train.validate"])
def test_help_needs_no_extra_and_a_run_names_it(module):
    shown = _run(module, "--help")
    assert shown.returncode == 0 and "usage: python -m" in shown.stdout, shown.stderr[-500:]
    ran = _run(module, "--model", "resnet20_cifar", "--data", "digits")
    assert ran.returncode == 2
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "'train' extra" in lines[0] and "pip install" in lines[0]
    assert "accelerate" in lines[0] and "torchmetrics" in lines[0]


def test_library_access_raises_missing_extra(monkeypatch):
    import train
    import zoo

    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(zoo.MissingExtraError, match="train' extra"):
        train.__getattr__("fit")
