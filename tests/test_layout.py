"""The layout rules: app.py → demo → zoo and train → zoo (one way); inside zoo/, a lower
module never imports a higher one; outside zoo/, only its public API (``zoo.__all__`` and the
few submodules named in ``PUBLIC_SUBMODULES``) is used;
``import zoo`` has no side effects."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "zoo": {"demo", "train", "gradio", "gradio_client", "accelerate", "torchmetrics", "app",
            "benchmarks"},
    "demo": {"train", "app", "benchmarks"},
    "train": {"demo", "gradio", "app", "benchmarks"},
    "benchmarks": {"demo", "gradio", "app"},
    "app.py": {"zoo", "train", "benchmarks"},  # the entry point only builds and launches the demo
}  # fmt: skip

#: zoo's modules, lowest first. A module may import its own layer and the layers below it.
ZOO_LAYERS = [
    {"errors", "atomic"},
    {"datasets", "images", "hub", "convert", "examples"},
    {"meta"},
    {"registry", "labels", "sources"},
    {"weights"},
    {"models"},
    {"factory"},
    {"export", "runtime", "pipeline", "quantize"},
    {"io", "inference", "segment", "manifest"},
    {"push", "catalog", "video"},
    {"publish", "predict"},
    {"__init__", "__main__"},
]
LAYER = {name: level for level, names in enumerate(ZOO_LAYERS) for name in names}
#: zoo's submodules that are public without a name in the capped ``zoo.__all__``: the README
#: imports them by their full name (``from zoo.examples import example_clip``,
#: ``zoo.runtime.OVModel``).
PUBLIC_SUBMODULES = {"zoo.examples", "zoo.runtime"}


def _sources(target: str) -> list[Path]:
    path = ROOT / target
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _top_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("target", sorted(FORBIDDEN))
def test_imports_follow_the_layout(target):
    files = _sources(target)
    assert files, f"{target} has no Python files"
    for path in files:
        bad = _top_imports(path) & FORBIDDEN[target]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def _zoo_module(path: Path) -> str:
    parts = path.relative_to(ROOT / "zoo").with_suffix("").parts
    return "models" if parts[0] == "models" else parts[0]


def _zoo_imports(path: Path) -> set[str]:
    """The zoo modules ``path`` (inside zoo/) imports, relative or absolute."""
    in_models = path.parent.name == "models"
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "zoo":
                parts = node.module.split(".")[1:]
            elif node.level == 1 and in_models:
                parts = ["models"]
            elif node.level >= 1:
                parts = (
                    (node.module or "").split(".") if node.module else [a.name for a in node.names]
                )
            else:
                continue
            found |= {p for p in parts[:1] if p}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("zoo.")}
    return found


def test_zoo_modules_import_only_lower_layers():
    modules = {_zoo_module(p) for p in _sources("zoo")}
    assert modules <= set(LAYER), f"add {modules - set(LAYER)} to ZOO_LAYERS"
    for path in _sources("zoo"):
        own = LAYER[_zoo_module(path)]
        for imported in _zoo_imports(path) - {_zoo_module(path)}:
            assert LAYER[imported] <= own, (
                f"{path.relative_to(ROOT)} (layer {own}) imports zoo.{imported} "
                f"(layer {LAYER[imported]}): a lower module must not import a higher one"
            )


def _public_api_violations(path: Path, public: set[str]) -> list[str]:
    bad = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("zoo.") and node.module not in PUBLIC_SUBMODULES:
                bad.append(f"from {node.module} import ...")
            elif node.module == "zoo":
                bad += [f"from zoo import {a.name}" for a in node.names if a.name not in public]
        elif isinstance(node, ast.Import):
            bad += [f"import {a.name}" for a in node.names
                    if a.name.startswith("zoo.") and a.name not in PUBLIC_SUBMODULES]  # fmt: skip
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "zoo"
            and node.attr not in public
        ):
            bad.append(f"zoo.{node.attr}")
    return bad


@pytest.mark.parametrize("target", ["demo", "train", "benchmarks", "app.py"])
def test_outside_zoo_only_the_public_api_is_used(target):
    import zoo

    public = set(zoo.__all__)
    for path in _sources(target):
        bad = _public_api_violations(path, public)
        assert not bad, f"{path.relative_to(ROOT)} uses zoo internals: {bad}"


def test_public_api_is_small_and_documented():
    import zoo

    # 34th: zoo.pipeline; 35th: zoo.WeightSource (ModelInfo.weights); 36th: zoo.segment_frames
    # (the live path the Video and Live tabs share)
    assert len(zoo.__all__) <= 36
    for name in zoo.__all__:
        assert getattr(zoo, name).__doc__, f"zoo.{name} has no docstring"
    for module_name in PUBLIC_SUBMODULES:
        module = importlib.import_module(module_name)
        assert module.__doc__, f"{module_name} has no docstring"
        for name, value in vars(module).items():
            if callable(value) and not name.startswith("_") and value.__module__ == module_name:
                assert value.__doc__, f"{module_name}.{name} has no docstring"


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
