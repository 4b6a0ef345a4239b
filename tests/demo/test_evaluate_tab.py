"""The Evaluate tab's endpoint: a labelled zip scored by several models (leaderboard, per
class, plot data, worst examples), and one readable line for each bad upload."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from demo import labelled  # noqa: E402
from tests.conftest import FAIL_FAST_S  # noqa: E402

from .labelled_zips import class_zip, jpeg, person_zip, png, zip_bomb, zip_of  # noqa: E402

PEOPLE = ["mediapipe_selfie.general_256", "mediapipe_selfie.landscape_144x256"]


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _evaluate(client, path, task, models, mapping=None):
    upload = handle_file(str(path)) if path is not None else None
    return client.predict(upload, task, models, mapping, "pytorch", api_name="/evaluate")


def test_two_person_models_on_a_labelled_zip(client, photos, tmp_path):
    verdict, board, plot, per_class, _, worst, raw = _evaluate(
        client, person_zip(tmp_path / "p.zip", photos), "segmentation", PEOPLE
    )
    assert board["headers"][:4] == ["model", "mIoU (%)", "mAcc (%)", "aAcc (%)"]
    assert sorted(row[0] for row in board["data"]) == PEOPLE
    assert board["data"][0][1] >= board["data"][1][1]  # best first
    assert "Best on your 3 examples" in verdict
    assert [row[0] for row in per_class["data"]] == ["background", "person"]
    assert [point[0] for point in plot["value"]["data"]] == [row[0] for row in board["data"]]
    assert [point[2] for point in plot["value"]["data"]] == [row[1] for row in board["data"]]
    assert len(worst) == 6 and all("IoU" in item["caption"] for item in worst)
    results = raw["results"]
    assert raw["upload"] == {"task": "segmentation", "examples": 3,
                             "classes": ["background", "person"]}  # fmt: skip
    for result in results:
        assert result["ok"] and result["median_ms"] > 0
        assert set(result["metrics"]) == {"mIoU", "mAcc", "aAcc"}


def test_an_edited_mapping_ignores_a_class(client, photos, tmp_path):
    mapping = {"headers": ["your class", PEOPLE[0]],
               "data": [["background", "background"], ["person", ""]]}  # fmt: skip
    verdict, *_, raw = _evaluate(
        client, person_zip(tmp_path / "p.zip", photos), "segmentation", PEOPLE[:1], mapping
    )
    (result,) = raw["results"]
    assert result["ignored"] == ["person"] and result["per_class"]["person"] is None
    assert "ignores 'person'" in verdict


def test_classifiers_on_class_folders(client, photos, tmp_path):
    path = class_zip(tmp_path / "c.zip", photos)
    model = "tf_efficientnet_lite0.in1k"
    _, board, *_, raw = _evaluate(client, path, "classification", [model])
    assert board["headers"][:3] == ["model", "top-1 (%)", "top-5 (%)"]
    (result,) = raw["results"]
    assert result["ignored"] == ["coffee", "person"]  # no ImageNet name ends in either
    assert result["per_class"]["cat"] == 100.0  # the cat photo is one of ImageNet's cats
    mapping = {"headers": ["your class", model],
               "data": [["coffee", "espresso; cup; coffee mug"]]}  # fmt: skip
    *_, raw = _evaluate(client, path, "classification", [model], mapping)
    (result,) = raw["results"]
    assert result["ignored"] == ["person"] and result["per_class"]["coffee"] == 100.0
    assert result["metrics"] == {"top-1": 100.0, "top-5": 100.0}


def test_models_of_the_other_task_say_so(client, photos, tmp_path):
    path = person_zip(tmp_path / "p.zip", photos)
    *_, raw = _evaluate(client, path, "segmentation", ["tf_efficientnet_lite0.in1k", PEOPLE[0]])
    bad, good = raw["results"]
    assert not bad["ok"] and "not a segmentation model" in bad["error"] and good["ok"]


def test_bad_uploads_are_one_line_each(client, photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    classes = json.dumps({"classes": ["background", "person"]}).encode()
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    cases = [
        (empty, "empty.zip is empty (0 bytes)"),
        (zip_of(tmp_path / "nomask.zip", {"images/a.jpg": image}), "1 images but no masks"),
        (zip_of(tmp_path / "size.zip", {"images/a.jpg": image, "classes.json": classes,
                                         "masks/a.png": png(np.zeros((9, 9), np.uint8))}),
         "masks/a.png is 9×9 but its image images/a.jpg is 64×48"),
        (zip_of(tmp_path / "class.zip", {"images/a.jpg": image, "classes.json": classes,
                                          "masks/a.png": png(np.full((48, 64), 3, np.uint8))}),
         "masks/a.png holds class 3, outside the 2 classes"),
        (zip_bomb(tmp_path / "bomb.zip", labelled.MAX_UNPACKED_MB + 1), "would unpack to 257 MB"),
    ]  # fmt: skip
    for path, words in cases:
        start = time.monotonic()
        with pytest.raises(AppError) as caught:
            _evaluate(client, path, "segmentation", PEOPLE[:1])
        message = str(caught.value)
        assert words in message and "\n" not in message.strip(), (path.name, message)
        assert "/tmp" not in message  # never a server path
        assert time.monotonic() - start < FAIL_FAST_S, path.name
    person = person_zip(tmp_path / "p.zip", photos)
    wrong = {"headers": ["your class", PEOPLE[0]], "data": [["person", "people"]]}
    with pytest.raises(AppError, match="has no class 'people'"):
        _evaluate(client, person, "segmentation", PEOPLE[:1], wrong)
    with pytest.raises(AppError, match=r"Upload a \.zip of labelled examples"):
        _evaluate(client, None, "segmentation", PEOPLE[:1])
    *_, raw = _evaluate(client, person, "segmentation", PEOPLE[:1])
    assert raw["results"][0]["ok"]  # still serving
