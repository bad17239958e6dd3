"""Slack's documented Block Kit limits and the blocks every message is built from."""

from __future__ import annotations

import re
from typing import Any

from opscadence.core.privacy import truncate

__all__ = [
    "MAX_BLOCKS",
    "MAX_SECTION_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_CONTEXT_ELEMENT",
    "MAX_FIELD_TEXT",
    "MAX_FIELDS",
    "MAX_FALLBACK_TEXT",
    "section",
    "header",
    "context",
    "pack_sections",
    "safe_link",
    "MAX_LINE",
]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENT = 2000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_FALLBACK_TEXT = 40_000
MAX_LINE = 1500  # one rendered line, so that two always fit in a section


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section, its text cut to MAX_SECTION_TEXT."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def header(text: str) -> dict[str, Any]:
    """A plain-text header, cut to MAX_HEADER_TEXT."""
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True}}


def context(text: str) -> dict[str, Any]:
    """A context block of one mrkdwn element, cut to MAX_CONTEXT_ELEMENT."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_ELEMENT)}]}


def pack_sections(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Section blocks holding ``*title*`` then ``lines``, each text ≤ MAX_SECTION_TEXT."""
    blocks: list[dict[str, Any]] = []
    current = f"*{title}*"
    for line in lines:
        line = truncate(line, MAX_LINE)
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            blocks.append(section(current))
            current = line
        else:
            current = f"{current}\n{line}"
    blocks.append(section(current))
    return blocks


def safe_link(url: str | None, label: str) -> str | None:
    """``<url|label>`` for an http(s) URL, with Slack's control characters escaped."""
    if not url:
        return None
    url = url.strip()
    if not re.match(r"https?://", url, re.IGNORECASE) or any(c.isspace() for c in url):
        return None
    url = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "%7C")
    link = f"<{url}|{label}>"
    return link if len(link) <= MAX_CONTEXT_ELEMENT - 50 else None
