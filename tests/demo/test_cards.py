"""The one loop every tab runs its cards through (no server, no weights)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from torch import nn

import zoo
from demo import cards
from demo.cards import Card, run_cards
from demo.models import Latency, LoadedModel
from demo.policy import Policy

ALIASES = {"m": "m.tag", "m.tag": "m.tag", "n": "n.tag", "o": "o.tag"}


class FakeCache:
    """Hands out a tiny model per name; ``broken`` maps a name to what loading it raises."""

    def __init__(self, broken: dict[str, Exception] | None = None) -> None:
        self.broken = broken or {}

    def get(self, info, on_load=None):
        if info.name in self.broken:
            raise self.broken[info.name]
        return LoadedModel(info.name, nn.Identity(), 7, (3, 8, 8), "installed:x", 0.0, "W")


@pytest.fixture(autouse=True)
def described(monkeypatch):
    def describe(name, task, policy):
        return SimpleNamespace(name=ALIASES[name]) if name in ALIASES else f"no {name} here"

    monkeypatch.setattr(cards, "describe", describe)


def _run(job):
    return f"{job.loaded.name}@{job.index}", Latency(2.0, 2.0, 1)


def test_cards_in_order_refusals_explained_aliases_skipped():
    got = run_cards(Card, "segmentation", _run, ["m", "x", "m.tag", "n"], FakeCache())
    assert [c.name for c in got] == ["m.tag", "x", "n.tag"]
    ran, refused, other = got
    assert ran.ok and ran.result == "m.tag@0" and other.result == "n.tag@3"
    assert (ran.params, ran.input_size, ran.weight_source) == (7, (3, 8, 8), "installed:x")
    assert ran.backend == "pytorch" and ran.latency == Latency(2.0, 2.0, 1) and ran.note is None
    assert not refused.ok and refused.error == "no x here." and refused.result is None
    assert refused.unavailable() == "### x\n**Unavailable:** no x here."
    assert ran.provenance() == "W" and Card("a", weight_source="s").provenance() == "Weights: s"


def test_failures_become_cards_unless_fatal(caplog):
    cache = FakeCache(
        {
            "m.tag": zoo.ZooError("weights for m.tag at /srv/models/m.safetensors are broken"),
            "n.tag": RuntimeError("x" * 1000),
        }
    )
    with caplog.at_level(logging.ERROR, logger="demo.cards"):
        public = Policy(public=True)
        zoo_error, other = run_cards(Card, "segmentation", _run, ["m", "n"], cache, policy=public)
    assert zoo_error.error == "weights for m.tag at m.safetensors are broken"
    assert other.error.startswith("it failed to load or run (RuntimeError: xxx")
    assert len(other.error) == cards.MAX_ERROR_CHARS
    assert "model n.tag failed" in caplog.text  # the whole failure is in the log
    with pytest.raises(zoo.InvalidVideoError):
        broken = FakeCache({"o.tag": zoo.InvalidVideoError("not a video")})
        run_cards(Card, "segmentation", _run, ["o"], broken, fatal=(zoo.InvalidVideoError,))


def test_json_head_and_ok():
    assert Card("a", error="no").json_head() == {"name": "a", "ok": False, "error": "no"}
    assert Card("a").json_head()["ok"] is False  # no result is not a success
    assert Card("a", result=1).ok


def test_weights_that_fail_to_load_get_visitor_words_in_public_mode(caplog):
    """The zoo's advice (install, server folders) is the operator's: in public mode it goes
    to the log in one line, and the card says what a visitor can do."""
    from demo.models import VISITOR_WORDS

    advice = (
        "the Hub is unreachable.\nInstall pip install 'vision-zoo[offline]' or use local-dir:PATH"
    )
    cache = FakeCache({"m.tag": zoo.HubUnreachableError(advice)})
    with caplog.at_level(logging.INFO, logger="demo"):
        (card,) = run_cards(Card, "segmentation", _run, ["m"], cache, policy=Policy(public=True))
        (local,) = run_cards(Card, "segmentation", _run, ["m"], cache)
    assert card.error == VISITOR_WORDS["unreachable"] and local.error == advice
    logged = [r for r in caplog.records if r.name.startswith("demo")]
    assert len(logged) == 2 and all(r.levelno == logging.WARNING for r in logged)
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in logged)
    assert "pip install 'vision-zoo[offline]' or use local-dir:PATH" in logged[0].getMessage()
