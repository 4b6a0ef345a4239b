"""Many files: the one pipeline's pieces, and ``python -m zoo predict`` streaming in batches,
resuming after a kill, and sharded over two processes by torchrun."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import zoo
from zoo.__main__ import main
from zoo.meta import TestResize
from zoo.pipeline import Preprocess, mask_at

from .test_segment import tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    zoo.save_pretrained(tiny(input_size=(3, 48, 64)), path, labels=["bg", "rock", "sky"])
    return f"local-dir:{path}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photos):
    """Eight JPEGs of two sizes (the pipeline batches same-size inputs together)."""
    out = tmp_path_factory.mktemp("in")
    names = ["astronaut.png", "coffee.png", "chelsea_cat.png", "china.jpg"]
    for i in range(8):
        size = (256, 192) if i % 2 else (200, 150)
        Image.open(photos[names[i % 4]]).convert("RGB").resize(size).save(out / f"p{i}.jpg")
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "predictions.csv", newline="") as file:
        return list(csv.DictReader(file))


def _predict(*argv: object) -> int:
    return main(["predict", *map(str, argv), "--quiet"])


def _visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


# -- the pipeline's pieces ------------------------------------------------------------------


@pytest.mark.parametrize("classes", [2, 5])
def test_mask_at_is_the_argmax_of_the_upsampled_scores(classes):
    torch.manual_seed(classes)
    scores = torch.randn(classes, 13, 17)
    reference = F.interpolate(scores[None], size=(61, 80), mode="bilinear", align_corners=False)
    expected = reference[0].argmax(0).numpy()
    mask, probs = mask_at(scores, (61, 80))
    assert mask.shape == (61, 80) and mask.dtype == np.uint8 and probs is None
    # two classes go through one difference plane: rounding may flip a near-tie, nothing more
    assert (mask != expected).mean() <= 1e-3
    mask, probs = mask_at(scores, (61, 80), probs=True)
    assert (mask == expected).all()
    assert torch.allclose(probs, reference[0].softmax(0))


def test_plain_pytorch_segmentation_imports_no_onnx_layer(tmp_path, folder):
    code = (
        "import sys, zoo\n"
        "from tests.zoo.test_segment import tiny\n"
        f"zoo.segment(tiny(), {str(folder / 'p0.jpg')!r})\n"
        "print(sorted(m for m in sys.modules if m in ('zoo.runtime', 'onnx', 'onnxruntime',"
        " 'onnxscript')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_a_large_jpeg_is_decoded_reduced_but_answered_at_full_size(tmp_path, photos):
    photo = tmp_path / "big.jpg"
    Image.open(photos["astronaut.png"]).convert("RGB").resize((1024, 768)).save(photo)
    model = tiny(input_size=(3, 48, 64))
    image, size = Preprocess.of(model).load(photo)
    assert size == (1024, 768) and image.size == (128, 96)  # 1/8 still covers the 64×48 input
    result = zoo.segment(model, photo)
    assert result.mask.shape == (768, 1024)
    assert result.image.size == (1024, 768)  # the overlay's image is the whole photo
    whole = zoo.segment(model, Image.open(photo))  # decoded in full
    assert (result.mask == whole.mask).mean() > 0.97


def test_a_rotated_jpeg_keeps_its_upright_size_when_decoded_reduced(tmp_path, photos):
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.open(photos["astronaut.png"]).convert("RGB").resize((800, 600)).save(photo, exif=exif)
    result = zoo.segment(tiny(input_size=(3, 48, 64)), photo)
    assert result.mask.shape == (800, 600)
    assert result.image.size == (600, 800)


def test_the_overlay_of_a_photo_changed_since_is_an_error_not_another_photo(tmp_path, photos):
    photo = tmp_path / "big.jpg"
    Image.open(photos["astronaut.png"]).convert("RGB").resize((1024, 768)).save(photo)
    result = zoo.segment(tiny(input_size=(3, 48, 64)), photo)
    Image.open(photos["coffee.png"]).convert("RGB").resize((1024, 768)).save(photo)
    with pytest.raises(zoo.InvalidImageError, match="changed or was removed"):
        result.overlay()


def test_segment_runs_a_list_in_batches_like_one_by_one(folder):
    model = tiny(TestResize("keep_ratio", (0, 96)), input_size=(3, 48, 64))
    wide = Image.open(folder / "p1.jpg").resize((1024, 400))  # 246×96: auto slides it
    sources = [folder / "p0.jpg", folder / "p1.jpg", Image.open(folder / "p2.jpg"), wide,
               (folder / "p3.jpg").read_bytes(), folder / "p4.jpg"]  # fmt: skip
    batched = zoo.segment(model, sources, batch_size=4)
    for source, result in zip(sources, batched, strict=True):
        alone = zoo.segment(model, source)
        assert (result.mask == alone.mask).all()
        assert (result.mode, result.input_size) == (alone.mode, alone.input_size)
    assert [r.mode for r in batched] == ["whole", "whole", "whole", "slide", "whole", "whole"]


def test_classify_runs_a_list_in_batches_like_one_by_one(lite0, photos):
    files = [photos["chelsea_cat.png"], photos["coffee.png"], photos["astronaut.png"]]
    batched = zoo.classify(lite0, files, top_k=3, batch_size=2)
    assert [top[0][0] for top in batched] == [zoo.classify(lite0, f, top_k=1)[0][0] for f in files]
    assert batched[0][0][0] in ("tabby", "tiger cat", "Egyptian cat")


# -- predict: batches, outputs, resume ------------------------------------------------------


def test_batches_and_workers_give_the_same_masks_as_one_by_one(tmp_path, saved, folder):
    assert _predict(folder, "--model", saved, "--out", tmp_path / "one", "--batch-size", 1,
                    "--workers", 0, "--save", "mask") == 0  # fmt: skip
    assert _predict(folder, "--model", saved, "--out", tmp_path / "many", "--batch-size", 3,
                    "--workers", 2, "--save", "mask") == 0  # fmt: skip
    one, many = _rows(tmp_path / "one"), _rows(tmp_path / "many")
    assert (
        [r["input"] for r in one]
        == [r["input"] for r in many]
        == [str(folder / f"p{i}.jpg") for i in range(8)]
    )
    for a, b in zip(one, many, strict=True):
        left = np.asarray(Image.open(tmp_path / "one" / a["mask"]))
        right = np.asarray(Image.open(tmp_path / "many" / b["mask"]))
        assert (left == right).all() and a["classes"] == b["classes"]
    assert _visible(tmp_path / "many") == sorted(
        [f"p{i}_mask.png" for i in range(8)] + ["predictions.csv"]
    )


def test_save_picks_the_outputs(tmp_path, saved, folder):
    out = tmp_path / "out"
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out,
                    "--save", "overlay,probs", "--overlay-format", "jpg") == 0  # fmt: skip
    (row,) = _rows(out)
    assert row["mask"] == "" and row["overlay"] == "p1_overlay.jpg"
    assert Image.open(out / row["overlay"]).format == "JPEG"
    assert Image.open(out / row["overlay"]).size == (256, 192)
    probs = np.load(out / row["probs"])
    assert probs.shape == (3, 192, 256) and probs.dtype == np.float16
    assert np.allclose(probs.astype(np.float32).sum(0), 1.0, atol=2e-3)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--save", "maks"], "--save takes"),
        (["--save", ","], "--save takes"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--workers", "-1"], "--workers must be 0 or more"),
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--precision", "fp16"], "--precision fp16 needs a GPU"),
        (["--device", "cuda:7"], "--device 'cuda:7' cannot be used here"),
    ],
)
def test_bad_options_are_one_line_before_any_work(tmp_path, saved, folder, capsys, option,
                                                  message):  # fmt: skip
    assert _predict(folder, "--model", saved, "--out", tmp_path / "out", *option) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_rerun_skips_what_is_done_and_redoes_what_is_missing(tmp_path, saved, folder, capsys):
    out = tmp_path / "out"
    assert _predict(folder, "--model", saved, "--out", out) == 0
    first = _rows(out)
    (out / "p3_mask.png").unlink()  # one output lost
    before = (out / "p5_mask.png").stat().st_mtime_ns
    assert main(["predict", str(folder), "--model", saved, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipping 7 input(s)" in printed
    rows = _rows(out)
    assert rows[: len(first)] == first  # accumulated, never rewritten
    assert [Path(r["input"]).name for r in rows[len(first) :]] == ["p3.jpg"]
    assert rows[-1]["mask"] == "p3_mask.png"  # redone under its own name, no p3-2
    assert (out / "p3_mask.png").is_file()
    assert (out / "p5_mask.png").stat().st_mtime_ns == before  # done work is not redone


def test_a_changed_overlay_format_or_redo_runs_again(tmp_path, saved, folder, capsys):
    out = tmp_path / "out"
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out) == 0
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out,
                    "--overlay-format", "webp") == 0  # fmt: skip
    assert [r["overlay"] for r in _rows(out)] == ["p1_overlay.png", "p1_overlay.webp"]
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out, "--overlay-format",
                    "webp", "--redo") == 0  # fmt: skip
    assert [r["overlay"] for r in _rows(out)][-1] == "p1_overlay.webp"  # its own, replaced
    assert _visible(out) == ["p1_mask.png", "p1_overlay.png", "p1_overlay.webp",
                             "predictions.csv"]  # fmt: skip


def test_a_results_table_of_the_previous_version_keeps_growing(tmp_path, saved, folder):
    out = tmp_path / "out"
    out.mkdir()
    old = ("input,model,task,width,height,latency_ms,classes,overlay,mask,frames,fps,"
           "processing_fps\n/elsewhere/x.jpg,m,segmentation,4,4,1.0,bg=1.0,x_overlay.png,"
           "x_mask.png,,,\n")  # fmt: skip
    (out / "predictions.csv").write_text(old)
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out) == 0
    assert not (out / "predictions-2.csv").exists()
    rows = _rows(out)
    assert [Path(r["input"]).name for r in rows] == ["x.jpg", "p1.jpg"]
    assert (out / rows[1]["mask"]).is_file() and "probs" not in rows[1]
    # probs need the new column: those rows go to a table of their own
    assert _predict(folder / "p1.jpg", "--model", saved, "--out", out, "--save", "probs") == 0
    assert (out / "predictions-2.csv").read_text().startswith("input,") and _rows(out) == rows


def test_an_interrupted_run_leaves_no_temporaries(tmp_path, saved, folder, monkeypatch):
    import zoo.manifest

    out = tmp_path / "out"
    original, calls = zoo.manifest.Manifest.append, []

    def append(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while batches are in the writer threads
        original(self, rows)

    monkeypatch.setattr(zoo.manifest.Manifest, "append", append)
    with pytest.raises(KeyboardInterrupt):
        _predict(folder, "--model", saved, "--out", out, "--batch-size", "2", "--workers", "0")
    assert len(_rows(out)) == 2
    assert sorted(_visible(out)) == ["p0_mask.png", "p0_overlay.png", "p1_mask.png",
                                     "p1_overlay.png", "predictions.csv"]  # fmt: skip
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


KILL_AFTER_FIRST_APPEND = """
import os, signal, sys
import zoo.manifest
original = zoo.manifest.Manifest.append
def append(self, rows):
    original(self, rows)
    if os.environ.get("RANK", "0") == os.environ["KILL_RANK"]:
        os.kill(os.getpid(), signal.SIGKILL)  # after the rows, before the outputs' renames
zoo.manifest.Manifest.append = append
from zoo.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "kill_after_append.py"
    script.write_text(KILL_AFTER_FIRST_APPEND)
    return script


def _complete(out: Path, folder: Path) -> None:
    """Every input has a row whose outputs exist, no output has a second name, and no
    temporary is left."""
    rows = _rows(out)
    assert {r["input"] for r in rows} == {str(p) for p in folder.glob("*.jpg")}
    for row in rows:
        assert (out / row["mask"]).is_file() and (out / row["overlay"]).is_file()
    names = _visible(out)
    assert not [n for n in names if "-2_" in n]
    assert len([n for n in names if n.endswith("_mask.png")]) == 8
    assert not [p for p in out.iterdir() if ".vzoo-tmp-" in p.name]


def test_a_killed_run_loses_only_its_batch_and_the_rerun_completes(tmp_path, saved, folder):
    out = tmp_path / "out"
    argv = ["predict", str(folder), "--model", saved, "--out", str(out), "--batch-size", "3",
            "--workers", "0", "--quiet"]  # fmt: skip
    env = {**os.environ, "KILL_RANK": "0"}
    run = subprocess.run([sys.executable, str(_script(tmp_path)), *argv], cwd=ROOT, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == -9
    assert len(_rows(out)) == 3  # the first batch's rows, whose outputs were never renamed in
    assert not [n for n in _visible(out) if n.endswith(".png")]
    assert main(argv) == 0
    _complete(out, folder)


def _torchrun(tmp_path: Path, *argv: str, script: str | None = None, **env: str):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2"]  # fmt: skip
    command += [script] if script else ["-m", "zoo"]
    environment = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([*command, *argv], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_two_torchrun_processes_share_the_inputs_and_kill_and_rerun(tmp_path, saved, folder):
    # p1.png has the stem of folder/p1.jpg; as input 8 it goes to rank 0, p1.jpg to rank 1
    extra = tmp_path / "extra"
    extra.mkdir()
    Image.open(folder / "p1.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(extra / "p1.png")
    inputs = [str(folder), str(extra / "p1.png")]
    single = tmp_path / "single"
    assert _predict(*inputs, "--model", saved, "--out", single) == 0
    out = tmp_path / "out"
    options = ["--model", saved, "--out", str(out), "--batch-size", "2", "--quiet"]
    run = _torchrun(tmp_path, "predict", *inputs, *options)
    assert run.returncode == 0, [line for line in run.stderr.splitlines() if "error" in line]
    rows = _rows(out)
    assert sorted(r["input"] for r in rows) == sorted(r["input"] for r in _rows(single))
    assert len({r["input"] for r in rows}) == len(rows) == 9  # no input twice
    assert not list(out.glob("predictions.part-*"))  # the parts were merged
    for row in rows:  # the same names and the same masks as one process
        same = next(r for r in _rows(single) if r["input"] == row["input"])
        assert row["mask"] == same["mask"]
        left, right = Image.open(out / row["mask"]), Image.open(single / same["mask"])
        assert (np.asarray(left) == np.asarray(right)).all()
    named = {Path(r["input"]).name: r["mask"] for r in rows}
    assert named["p1.png"] == "p1-2_mask.png" and named["p1.jpg"] == "p1_mask.png"
    # rank 1 killed after its first batch's rows: its share completes on the rerun
    killed = tmp_path / "killed"
    options[options.index(str(out))] = str(killed)
    out = killed
    run = _torchrun(tmp_path, "predict", str(folder), *options, script=str(_script(tmp_path)),
                    KILL_RANK="1")  # fmt: skip
    assert run.returncode != 0
    run = _torchrun(tmp_path, "predict", str(folder), *options)
    assert run.returncode == 0, run.stderr[-2000:]
    _complete(out, folder)
    assert not list(out.glob("predictions.part-*"))
