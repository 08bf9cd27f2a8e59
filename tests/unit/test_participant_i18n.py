"""The participant web app's catalogues: every string the templates and the code mark for
translation has a Spanish translation, the catalogue compiles in memory, and the language is
negotiated as RFC 9110 says (quality values), the participant's choice first."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from openatd.web.participant import i18n

APP = Path(i18n.__file__).parent


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    return {
        msg if isinstance(msg, str) else msg[0]
        for _file, _line, msg, _comments, _ctx in extract_from_dir(
            str(APP), method_map, options, keywords={"_": None, "N_": None}
        )
    }


def test_every_string_has_a_spanish_translation() -> None:
    wanted = _extracted()
    assert len(wanted) > 100  # the extraction found the app's strings
    with (APP / "locale/es/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="es")
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(wanted - translated.keys())
    assert missing == [], f"run bash scripts/i18n and translate: {missing[:5]}"
    # Placeholders survive translation.
    for msgid, msgstr in translated.items():
        for name in ("%(time)s", "%(name)s", "%(reason)s", "%(left)s", "{id}", "{time}"):
            assert (name in msgid) == (name in msgstr), (msgid, name)


def test_catalogue_compiles_without_a_build_step() -> None:
    es = i18n.translations("es")
    assert es.gettext("Check in") == "Presentarme"
    assert i18n.translations("en").gettext("Check in") == "Check in"
    with pytest.raises(KeyError):
        i18n.translations("fr")


@pytest.mark.parametrize(
    ("chosen", "header", "expected"),
    [
        (None, None, "en"),
        (None, "es-MX,es;q=0.9,en;q=0.8", "es"),
        (None, "en-US,en;q=0.9,es;q=0.8", "en"),
        (None, "fr-FR, es;q=0.3, en;q=0.2", "es"),
        (None, "es;q=0, en;q=0.1", "en"),
        (None, "es;q=abc, en;q=0.5", "en"),
        ("es", "en", "es"),
        ("xx", "es", "es"),
        (None, "," * 5000 + "es", "en"),  # only the first 1000 characters are read
    ],
)
def test_language_negotiation(chosen: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(chosen, header) == expected


def test_local_times_are_worded_in_the_language() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert i18n.local_datetime(t, "America/Chicago", "es") == "lunes 9 marzo 2026, 09:00"
    assert i18n.local_datetime(t, "America/Chicago", "en") == "Monday 9 March 2026, 09:00"
    assert i18n.local_time(t, "Europe/Madrid", "es") == "15:00"
