"""Nothing a user owns is lost: every writer in the project (zoo, train/, demo/) removes only
temporaries it can prove its own and abandoned, outputs appear whole or not at all, and runs
into one folder accumulate results instead of replacing them."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

import zoo
from tests.zoo.test_segment import tiny
from zoo import atomic
from zoo.__main__ import main

ROOT = Path(__file__).resolve().parents[1]

#: Files a user (or an older zoo, or another program) may keep beside the outputs: they look
#: like temporaries of the old ``.NAME.tmp-PID-...`` naming, with pids that run no process.
DECOYS = {
    ".thesis.tmp-draft.txt": b"three years of work",
    ".o.tmp-999999.mp4": b"another program's video",
    ".model.safetensors.tmp-1-abc": b"someone's half-written weights",
    ".notes.vzoo-tmp-draft.txt": b"a name close to the zoo's own",
    # the zoo's own pattern, but no lock file beside it: not provably the zoo's (reported only)
    f".mimic.txt.vzoo-tmp-{'c' * 32}.txt": b"a user who named a file like ours",
}


@pytest.fixture(scope="module")
def segmenter():
    return tiny(input_size=(3, 64, 64))


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, photos):
    path = tmp_path_factory.mktemp("in") / "photo.jpg"
    Image.open(photos["astronaut.png"]).convert("RGB").resize((96, 80)).save(path)
    return path


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, photos):
    pytest.importorskip("av")
    from tests.zoo.test_video import write_clip

    photo = Image.open(photos["astronaut.png"]).convert("RGB")
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", photo, 1, size=(64, 48))


def _write_each(name, folder, segmenter, photo_file, clip_file, monkeypatch):
    """Run the writer ``name`` into ``folder``."""
    if name == "atomic_write":
        with zoo.atomic_write(folder / "x.txt", "w") as file:
            file.write("x")
    elif name == "save_pretrained":
        zoo.save_pretrained(segmenter, folder)
    elif name == "save_pretrained(replace=True)":
        zoo.save_pretrained(segmenter, folder / "saved", replace=True)
        zoo.save_pretrained(segmenter, folder / "saved", replace=True)
    elif name == "export":
        pytest.importorskip("onnxruntime")
        zoo.export(segmenter, folder / "m.onnx")
    elif name == "onnx cache":
        pytest.importorskip("onnxruntime")
        monkeypatch.setenv("ZOO_ONNX_CACHE", str(folder))
        zoo.segment(tiny(input_size=(3, 64, 64)), photo_file, backend="onnxruntime")
    elif name == "predict":
        saved = folder.parent / "model"
        zoo.save_pretrained(segmenter, saved)
        assert main(["predict", str(photo_file), "--model", f"local-dir:{saved}",
                     "--out", str(folder)]) == 0  # fmt: skip
    elif name == "segment_video":
        zoo.segment_video(segmenter, clip_file, folder / "o.mp4", progress=False)
    elif name == "train outputs":
        from train.outputs import export_best, save_checkpoint, write_csv

        save_checkpoint({"model": {}, "epoch": 0}, folder / "last.pt")
        write_csv([{"epoch": 0, "miou": 0.5}], folder / "metrics.csv")
        export_best(segmenter, folder / "best", ["a", "b", "c"], None, "toy", {}, 64)
    elif name == "demo examples":
        from demo.examples import example_clip, example_photos

        assert example_photos(folder) and example_clip(folder) is not None


WRITERS = ["atomic_write", "save_pretrained", "save_pretrained(replace=True)", "export",
           "onnx cache", "predict", "segment_video", "train outputs", "demo examples"]  # fmt: skip


@pytest.mark.parametrize("writer", WRITERS)
def test_a_users_files_that_look_like_temporaries_survive_every_writer(
    writer, tmp_path, monkeypatch, segmenter, photo_file, clip_file
):
    folder = tmp_path / "out"
    folder.mkdir()
    for name, data in DECOYS.items():
        (folder / name).write_bytes(data)
    monkeypatch.setattr(atomic, "_cleaned", set(), raising=False)  # as in a fresh process
    _write_each(writer, folder, segmenter, photo_file, clip_file, monkeypatch)
    for name, data in DECOYS.items():
        assert (folder / name).read_bytes() == data, f"{writer} removed {name}"
    own = [p.name for p in folder.iterdir() if ".vzoo-" in p.name and p.name not in DECOYS]
    assert not own  # and its own temporaries are gone


SLOW_VIDEO = """
import sys, time
import zoo
from tests.zoo.test_segment import tiny

model = tiny(input_size=(3, 64, 64))
forward = model.forward
def slow(x):
    time.sleep(0.4)
    return forward(x)
model.forward = slow
print("started", flush=True)
zoo.segment_video(model, sys.argv[1], sys.argv[2], batch_size=1, progress=False)
print("done", flush=True)
"""


def _temporaries(folder: Path, prefix: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(prefix) and p.name != prefix]


def _wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_video_another_process_is_writing_survives_a_write_beside_it(tmp_path, clip_file):
    out = tmp_path / "o.mp4"
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_VIDEO, str(clip_file), str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _temporaries(tmp_path, ".o."))  # its temporary exists: it is writing
        with zoo.atomic_write(tmp_path / "predictions.csv", "w") as file:  # a write beside it
            file.write("x")
        atomic.clean_stale(tmp_path)  # and an explicit clean-up
        assert _temporaries(tmp_path, ".o.")
        stdout, stderr = writer.communicate(timeout=120)
    finally:
        writer.kill()
    assert writer.returncode == 0, stderr[-2000:]
    assert "done" in stdout and out.stat().st_size > 0


KILLED_VIDEO = SLOW_VIDEO.replace('print("done", flush=True)', "")


def test_a_killed_writers_leftovers_are_removed_by_the_next_run(tmp_path, clip_file):
    out = tmp_path / "o.mp4"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_VIDEO, str(clip_file), str(out)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lambda: _temporaries(tmp_path, ".o."))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert _temporaries(tmp_path, ".o.") and not out.exists()  # no half video under its name
    assert any(atomic.LOCK_MARK in p.name for p in _temporaries(tmp_path, ".o."))
    # a temporary without its lock file (written where locks are not supported) is not provable
    unproven = tmp_path / f".x.txt{atomic.TMP_MARK}{'0' * 32}.txt"
    unproven.write_bytes(b"")
    next_run = f"import zoo\nwith zoo.atomic_write({str(tmp_path / 'y.txt')!r}) as f: f.write(b'y')"
    run = subprocess.run([sys.executable, "-c", next_run], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not _temporaries(tmp_path, ".o.")  # provably abandoned: removed, lock file too
    assert unproven.exists() and "cannot be proven abandoned" in run.stderr  # reported


def test_a_temporary_this_process_is_still_writing_survives_clean_up(tmp_path):
    entered, release = threading.Event(), threading.Event()

    def write() -> None:
        with zoo.atomic_write(tmp_path / "big.bin") as file:
            file.write(b"x" * 1000)
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=write)
    thread.start()
    entered.wait(30)
    assert atomic.clean_stale(tmp_path) == []
    release.set()
    thread.join()
    assert (tmp_path / "big.bin").stat().st_size == 1000


def test_a_folder_swap_killed_half_way_keeps_the_old_folder_until_the_new_one_is_in(tmp_path):
    old = tmp_path / f".best{atomic.OLD_MARK}{'a' * 32}"
    old.mkdir()
    (old / "model.safetensors").write_bytes(b"the previous best model")
    assert atomic.clean_stale(tmp_path) == []  # best/ is missing: the old one is all there is
    (tmp_path / "best").mkdir()
    assert atomic.clean_stale(tmp_path) == [old]  # the swap finished: the old one may go


SLOW_PNG = """
import io, sys, time
from PIL import Image
from zoo.__main__ import main

original = Image.Image.save
def slow_save(self, fp, format=None, **params):
    data = io.BytesIO()
    original(self, data, format=format or "PNG", **params)
    data = data.getvalue()
    if isinstance(fp, (str, bytes)) or hasattr(fp, "__fspath__"):
        fp = open(fp, "wb")
    fp.write(data[: len(data) // 2])
    fp.flush()
    print("writing", flush=True)
    time.sleep(60)
Image.Image.save = slow_save
main(sys.argv[1:])
"""


def test_predict_killed_while_writing_leaves_no_truncated_png(tmp_path, segmenter, photo_file):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    out = tmp_path / "out"
    argv = ["predict", str(photo_file), "--model", f"local-dir:{saved}", "--out", str(out)]
    run = subprocess.Popen([sys.executable, "-c", SLOW_PNG, *argv], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert run.stdout.readline().strip() == "writing"
        assert list(out.iterdir())  # half a PNG is on disk somewhere
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    finals = [p.name for p in out.glob("*.png") if not p.name.startswith(".")]
    assert finals == []  # half a PNG never appears under its final name


def _predict(inputs, model, out):
    assert main(["predict", *map(str, inputs), "--model", model, "--out", str(out)]) == 0
    return list(csv.DictReader((out / "predictions.csv").open()))


def test_a_second_predict_into_the_same_folder_keeps_the_first_runs_rows(
    tmp_path, segmenter, photos
):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    Image.open(photos["coffee.png"]).resize((60, 40)).save(first)
    Image.open(photos["chelsea_cat.png"]).resize((60, 40)).save(second)
    _predict([first], f"local-dir:{saved}", tmp_path / "out")
    rows = _predict([second], f"local-dir:{saved}", tmp_path / "out")
    assert [Path(r["input"]).name for r in rows] == ["first.png", "second.png"]
    assert all((tmp_path / "out" / r["overlay"]).is_file() for r in rows)


def test_a_different_photo_with_the_same_name_gets_outputs_of_its_own(tmp_path, segmenter, photos):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    for folder, name in (("a", "coffee.png"), ("b", "chelsea_cat.png")):
        (tmp_path / folder).mkdir()
        Image.open(photos[name]).resize((60, 40)).save(tmp_path / folder / "photo.png")
    _predict([tmp_path / "a" / "photo.png"], f"local-dir:{saved}", tmp_path / "out")
    before = (tmp_path / "out" / "photo_overlay.png").read_bytes()
    rows = _predict([tmp_path / "b" / "photo.png"], f"local-dir:{saved}", tmp_path / "out")
    assert (tmp_path / "out" / "photo_overlay.png").read_bytes() == before  # a's, untouched
    assert [r["overlay"] for r in rows] == ["photo_overlay.png", "photo-2_overlay.png"]
    assert [Path(r["input"]).parent.name for r in rows] == ["a", "b"]
    # a rerun of a whose overlay was deleted redoes it under its own name (no third copy)
    (tmp_path / "out" / "photo_overlay.png").unlink()
    rows = _predict([tmp_path / "a" / "photo.png"], f"local-dir:{saved}", tmp_path / "out")
    assert rows[-1]["overlay"] == "photo_overlay.png" and len(rows) == 3
    assert not (tmp_path / "out" / "photo-3_overlay.png").exists()


def test_a_users_own_file_with_an_output_name_is_never_replaced(tmp_path, segmenter, photo_file):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo_mask.png").write_bytes(b"my hand-drawn mask")
    rows = _predict([photo_file], f"local-dir:{saved}", out)
    assert (out / "photo_mask.png").read_bytes() == b"my hand-drawn mask"
    assert rows[0]["mask"] == "photo-2_mask.png"


def test_a_results_table_written_by_another_program_is_left_alone(tmp_path, segmenter, photo_file):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.csv").write_text("id,label\n1,cat\n")
    assert main(["predict", str(photo_file), "--model", f"local-dir:{saved}",
                 "--out", str(out)]) == 0  # fmt: skip
    assert (out / "predictions.csv").read_text() == "id,label\n1,cat\n"
    assert len(list(csv.DictReader((out / "predictions-2.csv").open()))) == 1


@pytest.mark.parametrize("tail", [b"b.jpg,my own note", b'b.jpg,"person=0.5; backgr'])
def test_a_last_row_without_its_newline_is_kept_and_the_next_rows_still_parse(tmp_path, tail):
    """A hand-typed row, or one a full disk cut short (even inside a quote): kept, ended."""
    from zoo.manifest import Manifest

    table = Manifest(tmp_path, ["input", "classes"])
    table.append([{"input": "a.jpg", "classes": "cat=0.9"}])
    with open(table.path, "ab") as file:
        file.write(tail)
    assert [r["input"] for r in table.rows()] == ["a.jpg"]  # an unended row is not read yet
    table.append([{"input": "c.jpg", "classes": "dog=0.8"}])
    rows = table.rows()
    assert [r["input"] for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]
    assert rows[1]["classes"] == tail.split(b",", 1)[1].strip(b'"').decode()
    assert rows[2]["classes"] == "dog=0.8"


def test_export_refuses_to_replace_a_file_that_is_not_an_onnx_model(tmp_path, segmenter, capfd):
    pytest.importorskip("onnxruntime")
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    important = tmp_path / "important.txt"
    important.write_text("do not lose me")
    argv = ["export", f"local-dir:{saved}", "--out", str(important)]
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "not an ONNX model" in err and "--force" in err
    assert important.read_text() == "do not lose me"
    assert main([*argv, "--force"]) == 0 and zoo.ORTModel(important)
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", f"local-dir:{saved}", "--out", str(onnx_file)]) == 0
    assert main(["export", f"local-dir:{saved}", "--out", str(onnx_file)]) == 0  # re-export


def test_temporaries_are_only_ours_by_name_and_lock(tmp_path):
    """The proof of abandonment: the lock on the temporary's lock file, not a process id (pids
    are reused and mean nothing on another host): a temporary whose lock is held by a live
    process survives, whatever its name carries."""
    held = tmp_path / f".a.bin{atomic.TMP_MARK}{'b' * 32}.bin"
    lock = tmp_path / f".a.bin{atomic.LOCK_MARK}{'b' * 32}"
    held.write_bytes(b"x")
    lock.write_bytes(b"")
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert atomic.clean_stale(tmp_path) == [] and held.exists()
    finally:
        holder.kill()
        holder.wait()
    assert atomic.clean_stale(tmp_path) == [held]
    assert not held.exists() and not lock.exists()


def test_a_failed_folder_swap_puts_the_previous_folder_back(tmp_path, monkeypatch):
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.safetensors").write_bytes(b"the previous best model")

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    with (
        pytest.raises(OSError, match="disk full"),
        atomic.replace_directory(tmp_path / "best") as staging,
    ):
        (staging / "model.safetensors").write_bytes(b"new")
        monkeypatch.setattr(atomic.Temporary, "commit", refuse)
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == b"the previous best model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_name_near_the_length_limit_still_gets_a_temporary(tmp_path):
    target = tmp_path / ("n" * 240 + ".png")
    with zoo.atomic_write(target) as file:
        file.write(b"x")
    assert target.read_bytes() == b"x"


def test_a_video_is_not_written_over_a_file_that_appeared_meanwhile(tmp_path, segmenter, clip_file):
    out = tmp_path / "o.mp4"
    original = zoo.Temporary.commit

    def someone_else_first(self, **kwargs):
        out.write_bytes(b"another run's video")  # a concurrent run finished first
        return original(self, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zoo.Temporary, "commit", someone_else_first)
        with pytest.raises(zoo.ConfigError, match="created by someone else"):
            zoo.segment_video(segmenter, clip_file, out, progress=False, overwrite=False)
    assert out.read_bytes() == b"another run's video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_writes_follow_the_umask_and_leave_no_temporary(tmp_path):
    old = os.umask(0o027)
    try:
        with zoo.atomic_write(tmp_path / "a.txt", "w") as file:
            file.write("a")
        with atomic.replace_directory(tmp_path / "d") as staging:
            (staging / "f").write_text("f")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "d"]
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["f"]


def test_photos_whose_names_are_not_utf8_keep_their_rows_and_outputs(tmp_path, segmenter, photos):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    (tmp_path / "in").mkdir()
    odd = Path(os.fsdecode(bytes(tmp_path / "in") + b"/caf\xe9.png"))  # Latin-1 'café'
    Image.open(photos["coffee.png"]).resize((60, 40)).save(odd, format="PNG")
    argv = ["predict", str(tmp_path / "in"), "--model", f"local-dir:{saved}", "--out",
            str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0  # done: its row names the file byte for byte, so it is skipped
    (tmp_path / "out" / os.fsdecode(b"caf\xe9_mask.png")).unlink()
    assert main(argv) == 0  # redone under its own names
    data = (tmp_path / "out" / "predictions.csv").read_bytes()
    assert data.count(b"caf\xe9.png") == 2 and data.count(b"\n") == 3
    names = sorted(os.fsencode(p.name) for p in (tmp_path / "out").iterdir())
    assert names == [b"caf\xe9_mask.png", b"caf\xe9_overlay.png", b"predictions.csv"]


def test_predict_into_a_folder_that_cannot_be_written_fails_before_any_work(
    tmp_path, segmenter, photo_file, capfd
):
    saved = tmp_path / "model"
    zoo.save_pretrained(segmenter, saved)
    assert main(["predict", str(photo_file), "--model", f"local-dir:{saved}",
                 "--out", "/proc"]) == 2  # fmt: skip
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "--out /proc cannot be written" in err and "vzoo" not in err
