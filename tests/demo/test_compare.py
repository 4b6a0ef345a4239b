"""The comparison logic behind the cards (no server)."""

from __future__ import annotations

import pytest

from demo.compare import CardResult, compare, summary, table, to_json
from demo.models import Latency, ModelCache, availability


def _card(name, label, p, ms=10.0):
    return CardResult(
        name=name,
        result=[(label, p)],
        latency=Latency(ms, ms, 3),
        params=1_000_000,
        input_size=(3, 224, 224),
        weight_source="installed:x",
    )


def test_agreement_and_confidence():
    results = [_card("a", "cat", 0.6, 30), _card("b", "cat", 0.9, 20)]
    text = summary(results)
    assert "All 2 models agree" in text and "**cat**" in text
    assert (
        "Most confident: **b**" in text and "Fastest here: **b** (median 20 ms of 3 runs)" in text
    )
    assert to_json(results)["top1_agree"] is True


def test_disagreement_is_reported():
    results = [_card("a", "cat", 0.6), _card("b", "dog", 0.5), CardResult("c", error="no")]
    assert "top-1 answers differ" in summary(results) and "share no class" in summary(results)
    payload = to_json(results)
    assert payload["top1_agree"] is False and payload["most_confident"] == "a"
    assert table(results)[2][1] == "unavailable"


def test_no_result_at_all():
    assert summary([CardResult("x", error="gone")]) == "No model produced a prediction."


@pytest.mark.parametrize(
    ("name", "ok", "reason"),
    [
        ("tf_efficientnet_lite0.in1k", True, "installed weights"),
        ("resnet50.a1_in1k", False, "unreachable"),
        ("resnet10", False, "Unknown model"),
    ],
)
def test_availability_reasons(name, ok, reason):
    available, why = availability(name)
    assert available is ok and reason in why


def test_unavailable_models_get_a_card_not_random_output(photos):
    from zoo import load_image

    image = load_image(photos["coffee.png"])
    results = compare(image, ["tf_efficientnet_lite0", "resnet50.a1_in1k", "bogus"], ModelCache())
    assert results[0].ok and results[0].top[0][0] == "espresso"
    assert results[0].name == "tf_efficientnet_lite0.in1k"
    assert not results[1].ok and "unreachable" in results[1].error and not results[1].top
    assert not results[2].ok and "Unknown model" in results[2].error


def test_a_trained_model_directory_can_be_compared(tmp_path, photos):
    import zoo

    model = zoo.create_model("resnet20_cifar")
    zoo.save_pretrained(model, tmp_path / "best", labels=[f"c{i}" for i in range(10)])
    seg = zoo.create_model("fcn_tf_efficientnet_lite0", num_classes=2)
    zoo.save_pretrained(seg, tmp_path / "seg")
    image = zoo.load_image(photos["coffee.png"])
    names = [f"local-dir:{tmp_path / 'best'}", f"local-dir:{tmp_path / 'seg'}", "local-dir:/nope"]
    results = compare(image, names, ModelCache())
    assert results[0].ok and results[0].top[0][0].startswith("c") and results[0].input_size[1] == 32
    assert not results[1].ok and "segmentation model, not a classifier" in results[1].error
    assert not results[2].ok and "config.json is missing" in results[2].error


def test_confidence_reads_as_a_percentage():
    (row,) = table([_card("a", "cat", 0.391)])
    assert row[2] == "39.1%"


def test_unavailable_card_is_one_sentence(monkeypatch):
    """A model without weights: one sentence that says why, not "Unavailable. Unavailable: …"."""
    from demo import cards
    from demo.classify_tab import _card_updates

    monkeypatch.setattr(cards, "describe", lambda *a: "no pretrained weights here")
    (card,) = compare(None, ["resnet20_cifar"], cache=None)
    assert card.error == "no pretrained weights here."
    head = _card_updates(card)[1].value
    assert head.count("Unavailable") == 1 and head.endswith(
        "**Unavailable:** no pretrained weights here."
    )


def test_unavailable_cards_are_phrased_from_the_weight_record():
    """The remedy follows the record's problem code, not the wording of a message."""
    import zoo
    from demo.models import unavailable

    none = zoo.WeightSource("none", available=False, problem="no-weights", reason="none exist")
    assert unavailable(none) == "none exist; pick a model from the list, or train one and type " \
        "local-dir:PATH"  # fmt: skip
    pip = zoo.WeightSource("none", package="pkg", available=False, problem="no-weights",
                           reason="none exist", remedy="pip install pkg provides them")  # fmt: skip
    assert unavailable(pip) == "none exist; pip install pkg provides them"
    hub = zoo.WeightSource("hub", "org/x", available=False, problem="unreachable",
                           reason="the Hub is unreachable", remedy="connect once")  # fmt: skip
    assert unavailable(hub).endswith("pick a model marked installed or bundled")


@pytest.mark.parametrize("problem", ["no-weights", "unreachable", "no-file"])
def test_public_cards_give_visitors_what_they_can_do(problem):
    """In public mode a visitor can neither install nor use the server's folders: the card
    says what they can do, by the record's problem code; the zoo's remedy is not shown."""
    import zoo
    from demo.models import VISITOR_WORDS, unavailable

    weights = zoo.WeightSource(
        "hub", "org/x", package="pkg", available=False, problem=problem, reason="the reason",
        remedy="pip install pkg, or connect once",
    )  # fmt: skip
    text = unavailable(weights, public=True)
    assert text == VISITOR_WORDS[problem]
    assert not any(w in text for w in ("pip", "install ", "local-dir", "connect", "the reason"))
    assert unavailable(weights).startswith("the reason; ")  # outside public mode: the zoo's


@pytest.mark.parametrize("name", ["resnet50.a1_in1k", "hf-hub:tester/offline"])
def test_public_mode_puts_the_operators_remedy_in_the_log(name, caplog):
    """The Hub is unreachable (tests' closed port): a registered tag's record says so, and
    a Hub name fails while reading its config; either way the visitor reads visitor words
    and the log gets one line with the zoo's advice to the operator."""
    import logging

    from demo.models import VISITOR_WORDS, describe
    from demo.policy import Policy

    with caplog.at_level(logging.INFO, logger="demo"):
        why = describe(name, "classification", Policy(public=True))
    assert why == VISITOR_WORDS["unreachable"]
    (record,) = [r for r in caplog.records if r.name.startswith("demo")]
    assert record.levelno == logging.WARNING and "\n" not in record.getMessage()
    assert "connect to the internet" in record.getMessage() or "pip install" in record.getMessage()
    with caplog.at_level(logging.INFO, logger="demo"):
        local = describe(name, "classification", Policy())
    assert "unreachable" in local  # outside public mode the zoo's words are shown


def test_differing_answers_say_how_far_apart_they_are():
    """Two kinds of cat are not a bare disagreement: the shared top-5 classes are named."""
    cats = ["tiger cat", "tabby", "Egyptian cat", "lynx", "tiger"]

    def card(name, order):
        top = [(label, p) for label, p in zip(order, (0.5, 0.2, 0.1, 0.05, 0.01), strict=True)]
        return CardResult(name=name, result=top, latency=Latency(10.0, 10.0, 1))

    other = ["Egyptian cat", "tiger cat", "tabby", "Persian cat", "lynx"]
    text = summary([card("a", cats), card("b", other)])
    assert "top-1 answers differ" in text and "share 4 of 5 classes" in text
    assert "*tiger cat*, *tabby*, *Egyptian cat*, *lynx*" in text
    assert "Each top-1 is in every other model's top-5." in text


def test_each_request_runs_a_model_once_beside_its_running_median():
    """One run per request; the card shows it and the median of the model's recent runs on
    this backend here, and says which run was the first (cold) one."""
    import torch

    from demo.models import RECENT_RUNS, LoadedModel, timed_run

    loaded = LoadedModel("m", torch.nn.Identity(), 0, (3, 8, 8), "none", 0.0)
    calls = []
    result, first = timed_run(loaded, "pytorch", lambda: calls.append(1) or "out")
    assert result == "out" and calls == [1] and first.first and first.runs == 1
    assert "first run here" in first.label()
    for ms in (30.0, 10.0, 20.0):
        latest = loaded.record("pytorch", ms)
    assert not latest.first and latest.ms == 20.0 and latest.runs == 4
    assert latest.label().startswith("20 ms · median ") and latest.label().endswith(
        "of 4 runs here"
    )
    assert loaded.record("onnxruntime", 5.0).first  # kept per backend
    for _ in range(RECENT_RUNS + 10):
        kept = loaded.record("pytorch", 1.0)
    assert kept.runs == RECENT_RUNS and kept.median_ms == 1.0  # a window of recent runs
