"""Long model names as the page shows them (demo.names): cut with an ellipsis, the full name
as a tooltip, and their echoes in messages cut the same way."""

from __future__ import annotations

import pytest

from demo.models import describe
from demo.names import MAX_NAME_CHARS, cut_echoes, name_html, short_name

LONG = "resnet" + "x" * 4994


def test_short_names_are_unchanged_long_ones_end_with_an_ellipsis():
    assert short_name("tf_efficientnet_lite0.in1k") == "tf_efficientnet_lite0.in1k"
    exact = "a" * MAX_NAME_CHARS
    assert short_name(exact) == exact
    cut = short_name(LONG)
    assert len(cut) == MAX_NAME_CHARS and cut == LONG[: MAX_NAME_CHARS - 1] + "…"
    assert short_name("abcdef", 4) == "abc…"
    with pytest.raises(ValueError, match="at least 2"):
        short_name("abc", 1)


def test_a_cut_heading_keeps_the_full_name_as_a_tooltip():
    assert name_html("resnet50.a1_in1k") == "resnet50.a1_in1k"  # no span when it fits
    head = name_html(LONG)
    assert head == f'<span title="{LONG}">{short_name(LONG)}</span>'
    typed = "<b>" + "&" * 70
    assert name_html(typed).startswith('<span title="&lt;b&gt;&amp;&amp;')  # escaped
    assert "<b>" not in name_html(typed)


@pytest.mark.parametrize(
    "name",
    [LONG, "resnet50." + "x" * 5000, "hf-hub:org/" + "x" * 5000, "foo:" + "x" * 5000],
)
def test_an_unknown_long_name_is_echoed_cut(name):
    """The zoo's message quotes the name (or its tag, or its Hub id) once or more; the card
    quotes each at most :data:`MAX_NAME_CHARS` long."""
    why = describe(name)
    assert isinstance(why, str) and len(why) < 1500, why[:200]
    assert "x" * MAX_NAME_CHARS not in why and "…" in why


def test_echoes_are_cut_and_other_text_is_kept():
    message = f"Unknown model '{LONG}'. zoo.list_models('pattern*') lists the registered names."
    assert cut_echoes(message, LONG) == (
        f"Unknown model '{short_name(LONG)}'. zoo.list_models('pattern*') lists the "
        "registered names."
    )
    tag = "x" * 100
    assert cut_echoes(f"Unknown tag '{tag}' for 'resnet50'.", f"resnet50.{tag}") == (
        f"Unknown tag '{short_name(tag)}' for 'resnet50'."
    )
    assert cut_echoes("short", "short") == "short"
