"""What a trained model carries out of the run: the data set's own label names and palette
(config.json, the model card, local-dir: loading), and a model card whose snippet imports
exactly what loading needs — plain timm for timm's architectures, ``import zoo`` first for
the zoo's — run as written in a fresh interpreter against the local Hub."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
import zoo
from train import TrainConfig
from train.outputs import export_best, push_best
from zoo.push import model_card

#: A coast data set: colours nothing like PASCAL VOC's (whose class 1 is (128, 0, 0)).
COAST = {"classes": ["sea", "sand", "rock"], "palette": [[10, 20, 200], [230, 200, 80],
                                                       [90, 90, 90]]}  # fmt: skip


def _coast_dataset(root: Path) -> Path:
    """Eight 32×32 images with RGB colour masks: sea on top, sand, a rock square."""
    for split, count in (("train", 6), ("val", 2)):
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True)
        for i in range(count):
            labels = np.zeros((32, 32), np.uint8)
            labels[16 + i :] = 1
            labels[4 + i : 12 + i, 20:28] = 2
            colours = np.asarray(COAST["palette"], np.uint8)[labels]  # (32, 32, 3)
            Image.fromarray(colours).save(root / split / "masks" / f"{i}.png")
            noise = np.random.default_rng(i).integers(0, 40, (32, 32, 3))
            Image.fromarray((colours // 2 + noise).astype(np.uint8)).save(
                root / split / "images" / f"{i}.png"
            )
    (root / "classes.json").write_text(json.dumps(COAST))
    return root


def test_a_data_sets_names_and_palette_travel_into_the_saved_model(tmp_path):
    result = train.fit(
        TrainConfig(model="fcn", model_kwargs={"backbone": "test_resnet"},
                    data=f"masks:{_coast_dataset(tmp_path / 'coast')}", epochs=1, batch_size=3,
                    max_steps_per_epoch=1, output=str(tmp_path / "run"), progress=False)
    )  # fmt: skip
    names, palette = COAST["classes"], [tuple(c) for c in COAST["palette"]]
    config = json.loads((result.best_dir / "config.json").read_text())
    assert config["label_names"] == names and config["pretrained_cfg"]["num_classes"] == 3
    assert config["id2label"] == {"0": "sea", "1": "sand", "2": "rock"}
    assert config["label2id"] == {"sea": 0, "sand": 1, "rock": 2}
    assert config["palette"] == COAST["palette"]
    model = zoo.create_model(f"local-dir:{result.best_dir}")  # what the demo loads
    assert zoo.get_labels(model) == names and zoo.get_palette(model) == tuple(palette)
    info = zoo.model_info(f"local-dir:{result.best_dir}")
    assert info.labels == names and list(info.palette or []) == palette
    card = model_card(info, "me/coast")
    assert "| 0 | sea | (10, 20, 200) |" in card and "| 2 | rock | (90, 90, 90) |" in card


def test_own_palette_replaces_the_models_for_the_same_class_names(tmp_path):
    """Fine-tuned on data with the model's own class names but other colours: the data's."""
    model = zoo.create_model("fcn", backbone="test_resnet", num_classes=21)
    names = zoo.get_labels(model)
    colours = [(i, 255 - i, 7) for i in range(21)]
    export_best(model, tmp_path / "best", names, colours, "recoloured", {"mIoU": 0.5}, 64)
    again = zoo.create_model(f"local-dir:{tmp_path / 'best'}")
    assert zoo.get_labels(again) == names and list(zoo.get_palette(again)) == colours


def _snippet(card: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(blocks) == 1, card
    return blocks[0]


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_DISABLE_XET": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip


def _probe(snippet: str, out: Path) -> str:
    """The card's snippet, then: which packages it imported, and the logits of a fixed input."""
    return (
        f"{snippet}\nimport sys, torch\nprint(sorted(m for m in ('zoo', 'timm') if m in "
        "sys.modules))\nwith torch.no_grad():\n"
        f"    torch.save(model(torch.linspace(-1, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)), "
        f"{str(out)!r})\n"
    )


def _logits(name: str) -> torch.Tensor:
    model = zoo.create_model(name).eval()
    with torch.no_grad():
        return model(torch.linspace(-1, 1, 3 * 32 * 32).reshape(1, 3, 32, 32))


def _pushed_card(repo_id: str) -> str:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, "README.md")).read_text(encoding="utf-8")


@pytest.mark.slow
def test_card_of_a_fine_tuned_timm_model_loads_with_plain_timm(hub_server, tmp_path):
    result = train.fit(
        TrainConfig(model="tf_efficientnet_lite0.in1k", pretrained=True, data="digits",
                    image_size=32, epochs=1, batch_size=16, max_steps_per_epoch=2,
                    output=str(tmp_path / "run"), progress=False)
    )  # fmt: skip
    config = json.loads((result.best_dir / "config.json").read_text())
    assert config["usage"] == {"install": "pip install timm", "import": "import timm"}
    push_best(result.best_dir, "me/lite0-digits")
    card = _pushed_card("me/lite0-digits")
    assert "```bash\npip install timm\n```" in card and "vision-zoo architecture" not in card
    snippet = _snippet(card)
    assert "import zoo" not in snippet and 'timm.create_model("hf-hub:me/lite0-digits"' in snippet
    done = _run(_probe(snippet, tmp_path / "out.pt"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['timm']"  # zoo was never imported
    expected = _logits(f"local-dir:{result.best_dir}")
    assert torch.allclose(torch.load(tmp_path / "out.pt"), expected, atol=1e-5)


def test_card_of_a_zoo_architecture_says_to_install_and_import_zoo(hub_server, tmp_path):
    model = zoo.create_model("resnet20_cifar", num_classes=3)
    zoo.save_pretrained(model, tmp_path / "r20", labels=["a", "b", "c"], dataset="toy")
    config = json.loads((tmp_path / "r20" / "config.json").read_text())
    assert config["usage"]["install"] == "pip install vision-zoo"
    assert config["usage"]["import"].startswith("import zoo  # before timm.create_model")
    push_best(tmp_path / "r20", "me/r20-toy")
    card = _pushed_card("me/r20-toy")
    assert "```bash\npip install vision-zoo\n```" in card
    snippet = _snippet(card)
    lines = snippet.splitlines()
    registers = "import zoo  # registers resnet20_cifar in timm"
    assert lines.index("import timm") < lines.index(registers)
    done = _run(_probe(snippet, tmp_path / "out.pt"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['timm', 'zoo']"
    expected = _logits(f"local-dir:{tmp_path / 'r20'}")
    assert torch.allclose(torch.load(tmp_path / "out.pt"), expected, atol=1e-6)
    # and the import is needed: plain timm does not know the architecture
    without = _run(snippet.replace("import zoo", "# import zoo"), tmp_path)
    assert without.returncode != 0 and "resnet20_cifar" in without.stderr


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
