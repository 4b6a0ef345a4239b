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


def test_classification_sums_the_probabilities_of_a_class_s_members():
    data = Labelled("classification", ["cat", "dog"], [("a", 0), ("b", 1), ("c", 0)])
    data.examples = [
        Example(n, Image.new("RGB", (4, 4)), t) for n, t in (("a", 0), ("b", 1), ("c", 0))
    ]
    sets = [{"tabby", "tiger cat"}, {"beagle"}]
    outputs = [
        [("beagle", 0.4), ("tabby", 0.35), ("tiger cat", 0.25)],  # cat 0.6 beats dog 0.4: right
        [("car", 0.7), ("beagle", 0.3)],  # other 0.7: wrong
        [("tabby", 0.9), ("beagle", 0.1)],
    ]
    score = _classification_score(data, sets, outputs)
    assert score.metrics == {"top-1": 66.67, "top-5": None}  # top-5 with 2 classes + other: none
    assert score.per_class == [100.0, 0.0]
    assert score.worst[0].caption == "b: labelled 'dog' (30 %), predicted 'other' (70 %)"
