"""Contact fields (E.164, e-mail, BCP 47) and the words of reminders in English and Spanish."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from openatd.errors import InvalidInput
from openatd.notify import messages
from openatd.participants.contact import (
    check_email,
    check_language,
    check_phone,
    message_language,
)


def test_phone_numbers_are_stored_in_e164() -> None:
    assert check_phone("+1 (312) 555-0143") == "+13125550143"
    assert check_phone("+34 612 34 56 78") == "+34612345678"
    assert check_phone("") is None


@pytest.mark.parametrize("bad", ["3125550143", "+1 555", "+999 1234567", "call me"])
def test_invalid_phone_numbers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="phone"):
        check_phone(bad)


def test_email() -> None:
    assert check_email("Maria@Example.ORG") == "Maria@example.org"
    for bad in ("maria", "maria@", "a b@example.org", "maria@example"):
        with pytest.raises(InvalidInput, match="email"):
            check_email(bad)


def test_language_tags() -> None:
    assert check_language("es-mx") == "es-MX"
    assert check_language("en") == "en"
    assert check_language(None) == "en"
    assert message_language("es-MX") == "es"
    assert message_language("fr") == "en"
    with pytest.raises(InvalidInput, match="BCP 47"):
        check_language("klingon-xx-yy")


START = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 09:00 in Chicago (CDT)
CHI = ZoneInfo("America/Chicago")


def test_english_reminder_names_date_time_address_consequence_and_plan() -> None:
    text = messages.reminder(
        kind="court_hearing",
        title="Arraignment",
        start=START,
        tz=CHI,
        location="50 W Washington St, Chicago",
        language="en",
        name="P. One",
    )
    assert text.subject == "Reminder: Arraignment, Monday, March 9, 2026 at 9:00 AM"
    assert "Monday, March 9, 2026 at 9:00 AM at 50 W Washington St, Chicago" in text.body
    assert "warrant for your arrest" in text.body
    assert "What time will you leave? Do you need a ride or childcare?" in text.body


def test_spanish_reminder() -> None:
    text = messages.reminder(
        kind="court_hearing",
        title="Audiencia",
        start=START,
        tz=CHI,
        location="50 W Washington St",
        language="es-MX",
        name="P. Uno",
    )
    assert "lunes, 9 de marzo de 2026 a las 9:00" in text.body
    assert "orden de arresto" in text.body
    assert "¿Necesita transporte o cuidado de niños?" in text.body
