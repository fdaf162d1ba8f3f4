"""Rewrite one generated block of a Markdown page, between its two marker comments."""
from __future__ import annotations

from pathlib import Path


def replace_block(page: Path, begin: str, end: str, block: str, heading: str = "") -> None:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) in place of
    the page's current block, or append it under ``heading`` when there is none."""
    text = page.read_text() if page.exists() else "# Evaluation\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + heading + block + "\n"
    page.write_text(text)
