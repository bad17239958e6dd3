"""Slack's documented Block Kit limits and the blocks every message is built from."""

from __future__ import annotations

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
]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENT = 2000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_FALLBACK_TEXT = 40_000


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section, its text cut to MAX_SECTION_TEXT."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}}


def header(text: str) -> dict[str, Any]:
    """A plain-text header, cut to MAX_HEADER_TEXT."""
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_TEXT), "emoji": True}}


def context(text: str) -> dict[str, Any]:
    """A context block of one mrkdwn element, cut to MAX_CONTEXT_ELEMENT."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_ELEMENT)}]}
