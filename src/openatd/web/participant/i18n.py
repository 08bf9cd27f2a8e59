"""Languages of the participant web app: gettext catalogues, negotiation and formatting.

The catalogues are the ``.po`` files under ``locale/<lang>/LC_MESSAGES/messages.po`` (English is
the source language, so it needs none). They are compiled in memory with Babel when first used,
so a fresh ``pip install -e .`` needs no build step and no binary ``.mo`` is committed.
``scripts/i18n`` re-extracts the strings (Babel's Jinja2 and Python extractors, ``babel.cfg``)
and updates the catalogues; a test fails when a string has no Spanish translation.

The language is the participant's choice (a cookie) or else the best match of the browser's
``Accept-Language`` header (RFC 9110 §12.5.4 quality values), else English.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
"""Supported languages: BCP 47 primary tag -> name in that language."""
DEFAULT_LANGUAGE = "en"
MAX_ACCEPT_LANGUAGE = 1000
"""Longest ``Accept-Language`` header read (characters); the rest is ignored."""


def N_(message: str) -> str:
    """Mark *message* for extraction without translating it yet (translated at render)."""
    return message


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The gettext translations of *language* ("en" or "es"), compiled from its ``.po``.

    Raises:
        KeyError: an unsupported language.
    """
    if language not in LANGUAGES:
        raise KeyError(language)
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The language to use: *chosen* (the participant's cookie) if supported, else the highest
    quality supported entry of *accept_language*, else English.

    >>> negotiate(None, "es-MX,es;q=0.9,en;q=0.8")
    'es'
    >>> negotiate("en", "es")
    'en'
    >>> negotiate(None, "fr, de;q=0.5")
    'en'
    """
    if chosen in LANGUAGES:
        return chosen
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept_language or "")[:MAX_ACCEPT_LANGUAGE].split(",")):
        parts = item.strip().split(";")
        tag = parts[0].strip().lower().split("-")[0]
        quality = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag in LANGUAGES and quality > 0:
            candidate = (-quality, position, tag)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else DEFAULT_LANGUAGE


def local_datetime(instant: datetime | None, timezone: str, language: str) -> str:
    """*instant* (UTC) as a full local date and time in *timezone*, worded in *language*,
    e.g. ``"Monday, 9 March 2026, 09:00"`` / ``"lunes, 9 de marzo de 2026, 9:00"``."""
    if instant is None:
        return ""
    return format_datetime(
        instant.astimezone(ZoneInfo(timezone)), "EEEE d MMMM y, HH:mm", locale=language
    )


def local_time(instant: datetime | None, timezone: str, language: str) -> str:
    """*instant* (UTC) as a local clock time (``"09:00"``) in *timezone*."""
    if instant is None:
        return ""
    return format_time(instant.astimezone(ZoneInfo(timezone)), "HH:mm", locale=language)
