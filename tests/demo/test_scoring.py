"""The Evaluate tab's scoring: label mappings proposed by name, and the metrics under them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

import zoo
from demo.labelled import Example, Labelled
from demo.scoring import (
    MappingError,
    _classification_score,
    _segmentation_score,
    parse_mapping,
    proposal_table,
    propose,
)

CITYSCAPES = zoo.model_info("hrnetv2_w18.mmseg_cityscapes_512x1024").labels
IMAGENET = zoo.model_info("tf_efficientnet_lite0.in1k").labels


def test_proposals_by_name():
    assert propose("car", CITYSCAPES) == ["car"]
    assert propose("Cars", CITYSCAPES) == ["car"]  # case and plural
    assert propose("traffic_light", CITYSCAPES) == ["traffic light"]
    assert propose("vehicle", CITYSCAPES) == [
        "car",
        "truck",
        "bus",
        "train",
        "motorcycle",
        "bicycle",
    ]
    assert propose("pedestrian", CITYSCAPES) == ["person"]
    assert "tabby, tabby cat" in propose("cat", IMAGENET)  # a comma-separated synonym's word
    assert propose("coffee mug", IMAGENET) == ["coffee mug"]
    assert propose("spaceship", CITYSCAPES) == []


def test_a_table_edited_by_the_visitor():
    models = {"a": ["background", "car", "truck"], "b": ["bg", "vehicle"]}
    table = proposal_table(["background", "vehicle"], models)
    assert table == [["background", "background", ""], ["vehicle", "car; truck", "vehicle"]]
    rows = [["background", "background", "bg"], ["vehicle", "car", "vehicle"]]
    edited = {"headers": ["your class", "a", "b"], "data": rows}
    mapping = parse_mapping(edited, ["background", "vehicle"], models)
    assert mapping == {"a": [{"background"}, {"car"}], "b": [{"bg"}, {"vehicle"}]}
    assert parse_mapping(None, ["background", "vehicle"], models)["a"][1] == {"car", "truck"}


@pytest.mark.parametrize(
    ("cell", "words"),
    [("lorry", "a has no class 'lorry' (mapped from 'vehicle')"),
     ("car; background", "class 'background' is mapped to both 'background' and 'vehicle'")],
)  # fmt: skip
def test_mapping_mistakes_are_one_line(cell, words):
    models = {"a": ["background", "car", "truck"]}
    table = {
        "headers": ["your class", "a"],
        "data": [["background", "background"], ["vehicle", cell]],
    }
    with pytest.raises(MappingError, match=re.escape(words)):
        parse_mapping(table, ["background", "vehicle"], models)
    with pytest.raises(MappingError, match="'tree', which is not one of the upload's classes"):
        parse_mapping({"headers": ["your class", "a"], "data": [["tree", "car"]]}, ["car"], models)


def _result(mask: np.ndarray, labels: list[str]) -> zoo.SegmentationResult:
    palette = [(i * 40, 0, 0) for i in range(len(labels))]
    image = Image.new("RGB", (mask.shape[1], mask.shape[0]))
    return zoo.SegmentationResult(mask.astype(np.uint8), labels, palette, image)


def test_segmentation_metrics_under_a_mapping():
    """Visitor classes road, vehicle, tree (tree maps to nothing: ignored); the model's
    classes road, car, truck, sky (sky maps to nothing: a wrong answer)."""
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [255, 255, 255, 2]])
    predicted = np.array([[0, 3, 1, 2], [0, 0, 0, 0], [0, 0, 0, 0]])  # road sky car truck / ...
    data = Labelled("segmentation", ["road", "vehicle", "tree"], [("a", "a")])
    data.examples = [Example("a.jpg", Image.new("RGB", (4, 3)), truth.astype(np.uint8))]
    sets = [{"road"}, {"car", "truck"}, set()]
    score = _segmentation_score(data, sets, [_result(predicted, ["road", "car", "truck", "sky"])])
    # road: 3 right of 4 labelled, 1 vehicle pixel predicted road → IoU 3 / 5; vehicle: 2 of 3,
    # no false positive → 2 / 3; tree ignored.
    assert score.per_class == [60.0, 66.67, None]
    assert score.ignored == ["tree"]
    assert score.metrics == {"mIoU": 63.33, "mAcc": 70.83, "aAcc": 71.43}
    assert score.worst[0].caption == "a.jpg: IoU 63.3 %"


def test_classification_counts_the_model_s_own_top_classes():
    """Top-1: the model's most likely class is one of the true class's; top-5: one of its
    five most likely is. A class that maps to nothing leaves its examples out."""
    data = Labelled("classification", ["cat", "dog", "bird"], [])
    truths = {"a": 0, "b": 1, "c": 0, "d": 2}
    data.examples = [Example(n, Image.new("RGB", (4, 4)), t) for n, t in truths.items()]
    sets = [{"tabby", "tiger cat"}, {"beagle"}, set()]
    rest = [("car", 0.01), ("bus", 0.01), ("van", 0.01), ("ship", 0.01)]
    outputs = [
        [("beagle", 0.4), ("tabby", 0.3), ("tiger cat", 0.26), *rest],  # top class a dog: wrong
        [("car", 0.66), ("bus", 0.2), ("beagle", 0.1), ("van", 0.02), ("ship", 0.01),
         ("tabby", 0.01)],  # wrong, but its top 5 holds a dog
        [("tabby", 0.9), ("beagle", 0.06), *rest],
        [("tabby", 0.96), *rest],  # a bird: mapped to nothing, left out
    ]  # fmt: skip
    score = _classification_score(data, sets, outputs)
    assert score.metrics == {"top-1": 33.33, "top-5": 100.0}
    assert score.per_class == [50.0, 0.0, None] and score.ignored == ["bird"]
    assert (
        score.worst[0].caption
        == "b: labelled 'dog' (10 % on its classes), top class 'car' (none of yours)"
    )
    three = [row[:3] for row in outputs[:3]]  # a model with 3 classes has no top-5
    data.examples = data.examples[:3]
    assert _classification_score(data, sets, three).metrics["top-5"] is None


def test_proposals_never_give_one_model_class_to_two_classes():
    from demo.scoring import proposals

    assert proposals(["car", "vehicle", "vegetation", "plant"], CITYSCAPES) == [
        ["car"], ["truck", "bus", "train", "motorcycle", "bicycle"], ["vegetation"], [],
    ]  # fmt: skip
    assert propose("tree", IMAGENET) == []  # a name's last word only: not "tree frog"
    assert propose("car", IMAGENET) and "car mirror" not in propose("car", IMAGENET)


@pytest.mark.parametrize(
    ("table", "words"),
    [(5, "must be a table"), ({"headers": 5, "data": []}, "must be a table"),
     ({"headers": ["your class", "a"], "data": [5]}, "each row a list"),
     ({"headers": ["your class", "a"], "data": [["car", ["car"]]]}, "cells must be text"),
     ({"headers": ["your class", "a"], "data": [["car", "car"], ["car", "truck"]]},
      "two rows for 'car'")],
)  # fmt: skip
def test_a_table_from_a_client_that_is_not_one(table, words):
    with pytest.raises(MappingError, match=words):
        parse_mapping(table, ["car"], {"a": ["car", "truck"]})


def test_empty_and_nan_cells_ignore_a_class():
    import pandas as pd

    table = pd.DataFrame([["car", float("nan")], ["bus", None]], columns=["your class", "a"])
    assert parse_mapping(table, ["car", "bus"], {"a": ["car", "bus"]}) == {"a": [set(), set()]}
