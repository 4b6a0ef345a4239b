"""Model names as the page shows them: anything can be typed into a picker (one visitor pasted
a 5,000-character name), so a name longer than :data:`MAX_NAME_CHARS` is cut with an
ellipsis wherever it is echoed (card headings, tables, error messages), with the full name
kept as a tooltip where the page can hold one."""

from __future__ import annotations

import html
import re

#: Longest model name shown in full (the longest listed name has 42 characters; a Hub
#: ``org/name`` may have up to 96).
MAX_NAME_CHARS = 60
#: Where a typed name splits into parts a message may echo on their own (the source prefix,
#: the Hub organisation and revision, the pretrained tag).
_PARTS = re.compile(r"[:/@.]")


def short_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """``name`` as shown: unchanged up to ``limit`` characters, else its first ``limit - 1``
    characters and "…" (``limit`` characters in all).

    Raises:
        ValueError: ``limit`` is less than 2.
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    return name if len(name) <= limit else name[: limit - 1] + "…"


def name_html(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """``name`` for a Markdown heading: HTML-escaped, cut as :func:`short_name` cuts it, and
    when cut, wrapped in a ``<span>`` whose ``title`` (the tooltip) is the full name."""
    shown = html.escape(short_name(name, limit))
    if len(name) <= limit:
        return shown
    return f'<span title="{html.escape(name)}">{shown}</span>'


def cut_echoes(text: str, name: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` (a message about the typed ``name``) with every over-long echo of ``name``
    cut as :func:`short_name` cuts it: the whole name, what follows its ``source:`` prefix,
    or the parts a message quotes on their own (between ``:``, ``/``, ``@`` and ``.``, e.g.
    an unknown tag)."""
    parts = {name, name.strip(), name.partition(":")[2], *_PARTS.split(name)}
    for part in sorted((p for p in parts if len(p) > limit), key=len, reverse=True):
        text = text.replace(part, short_name(part, limit))
    return text
