"""The Segment tab: its comparison logic (by hand) and its named endpoint."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import zoo
from demo.segmentation import SegCard, agreement, disagreement_map, legend, summary

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

PERSON = ["mediapipe_selfie.general_256", "mediapipe_selfie.landscape_144x256"]


def _card(name, mask, labels):
    mask = np.asarray(mask, dtype=np.uint8)
    image = Image.new("RGB", (mask.shape[1], mask.shape[0]), (90, 90, 90))
    palette = [(0, 0, 0), (255, 0, 128), (0, 255, 0)][: len(labels)]
    result = zoo.SegmentationResult(mask, labels, palette, image)
    return SegCard(name=name, result=result)


def test_agreement_is_by_class_name_and_exact():
    a = _card("a", [[0, 0, 1, 1]], ["background", "person"])
    # b's label order differs: index 0 is "person"; pixels 2 and 3 are person, pixel 1 "car"
    b = _card("b", [[1, 2, 0, 0]], ["person", "background", "car"])
    rows = agreement([a, b])
    assert rows == [["a", "b", 75.0, round(100 * (1 / 2 + 2 / 2 + 0 / 1) / 3, 2)]]
    differ = np.asarray(disagreement_map([a, b]))
    assert (differ[0, 1] == (255, 40, 40)).all() and not (differ[0, 0] == (255, 40, 40)).all()


def test_two_models_are_compared_without_a_least_alike_pair():
    a = _card("a", [[0, 0, 1, 1]], ["background", "person"])
    b = _card("b", [[0, 1, 1, 1]], ["background", "person"])
    c = _card("c", [[1, 1, 1, 1]], ["background", "person"])
    two = summary([a, b], agreement([a, b]))
    assert "The two models give the same label to **75.0 %**" in two and "least alike" not in two
    three = summary([a, b, c], agreement([a, b, c]))
    assert "on average; least alike: a vs c (50.0 %)" in three


def test_legend_lists_present_classes_with_their_colours():
    card = _card("a", [[0, 1, 1, 1]], ["background", "person"])
    entries, colours = legend(card.result)
    assert entries[0] == ("person 75.0%", "person") and colours["person"] == "#ff0080"
    assert "person" in summary([card], [])


def test_no_result_and_one_result():
    assert summary([SegCard("x", error="no weights")], []) == "No model produced a segmentation."
    assert agreement([_card("a", [[0]], ["bg"])]) == []


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _segment(client, path, models, alpha=0.5):
    return client.predict(handle_file(str(path)), models, alpha, api_name="/segment")


def test_two_person_models_segment_the_astronaut(client, photos):
    raw, verdict, table, differ, *_ = _segment(client, photos["astronaut.png"], PERSON)
    results = raw["results"]
    assert [r["name"] for r in results] == PERSON and all(r["ok"] for r in results)
    for r in results:  # the official runtime's share is 0.55 for both
        assert abs(r["class_shares"]["person"] - 0.55) < 0.02
    assert len(table["data"]) == 1 and float(table["data"][0][2]) > 95
    assert "same label" in verdict
    assert differ and Image.open(differ).size == (512, 512)


def test_a_model_without_weights_gets_a_card_not_a_guess(client, photos):
    raw, *_ = _segment(client, photos["coffee.png"], [PERSON[0], "pspnet_resnet50c"])
    by_name = {r["name"]: r for r in raw["results"]}
    assert by_name[PERSON[0]]["ok"]
    missing = by_name["pspnet_resnet50c"]
    assert not missing["ok"] and "class_shares" not in missing
    assert "unreachable" in missing["error"] or "not cached" in missing["error"]


def test_bad_uploads_and_choices_are_readable_errors(client, photos, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image"):
        _segment(client, text, PERSON)
    with pytest.raises(AppError, match="at least one"):
        _segment(client, photos["astronaut.png"], [])
    with pytest.raises(AppError, match="at most 4"):
        _segment(client, photos["astronaut.png"], [*PERSON, "a", "b", "c"])
    raw, *_ = _segment(client, photos["astronaut.png"], PERSON[:1])  # still serving
    assert raw["results"][0]["ok"]


def test_a_trained_model_directory_appears_beside_the_published_ones(client, photos, tmp_path):
    """The README's walk-through: train (here: save) a model, type local-dir:PATH, compare."""
    model = zoo.create_model("fcn", backbone="resnet18", num_classes=3, output_stride=32)
    zoo.save_pretrained(model, tmp_path / "best", labels=["background", "rock", "sky"],
                        input_size=(3, 64, 64))  # fmt: skip
    raw, _, table, *_ = _segment(client, photos["astronaut.png"],
                                 [f"local-dir:{tmp_path / 'best'}", PERSON[0]])  # fmt: skip
    mine, person = raw["results"]
    assert mine["ok"] and set(mine["class_shares"]) <= {"background", "rock", "sky"}
    assert person["ok"] and len(table["data"]) == 1  # compared by name ("background" shared)


def test_paths_outside_the_upload_cache_are_refused(app_url, photos):
    """Events skip Gradio's preprocessing; a client-sent server path must not be read."""
    import json
    import urllib.request

    payload = [{"path": str(photos["astronaut.png"])}, PERSON[:1], 0.5, "pytorch"]
    body = json.dumps({"data": payload})
    request = urllib.request.Request(f"{app_url}gradio_api/call/segment", data=body.encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    event_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    with urllib.request.urlopen(f"{app_url}gradio_api/call/segment/{event_id}", timeout=60) as r:
        stream = r.read().decode()
    assert "event: error" in stream and "Only files uploaded to this app" in stream
    assert "class_shares" not in stream
