"""Contact fields of a participant (or a staff member): e-mail, phone (E.164), language.

- Phone numbers are parsed with ``phonenumbers`` (Google's libphonenumber metadata) and must be
  given in international form (``+13125550143``); they are stored in E.164.
- E-mail addresses are checked for syntax with ``email-validator`` (no DNS lookup: the server
  may have no network) and stored normalised.
- Languages are BCP 47 tags (``en``, ``es``, ``es-MX``) parsed with ``babel``; messages exist
  in :data:`MESSAGE_LANGUAGES` and other languages fall back to English.
"""

from __future__ import annotations

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from openatd.errors import InvalidInput

MESSAGE_LANGUAGES = ("en", "es")
"""Languages that reminders and notices are written in."""


def check_phone(value: str | None) -> str | None:
    """*value* as E.164 (``"+13125550143"``), or ``None`` when empty.

    Raises:
        InvalidInput: not a possible, valid number in international form.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            f"phone must be an international number in E.164 form, e.g. +13125550143, got {text!r}"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"phone {text!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_email(value: str | None) -> str | None:
    """*value* normalised (domain lower-cased), or ``None`` when empty.

    Raises:
        InvalidInput: not a syntactically valid address, naming what is wrong.
    """
    if value is None or not value.strip():
        return None
    try:
        got = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"email {value.strip()!r} is not valid: {exc}") from None
    return str(got.normalized)


def check_language(value: str | None) -> str:
    """A BCP 47 tag (``"es-MX"``), canonical case; ``"en"`` when empty.

    Raises:
        InvalidInput: not a language tag babel knows.
    """
    if value is None or not value.strip():
        return "en"
    text = value.strip()
    try:
        loc = Locale.parse(text, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        raise InvalidInput(
            f"language must be a BCP 47 tag such as 'en' or 'es-MX', got {text!r}"
        ) from None
    return loc.language if loc.territory is None else f"{loc.language}-{loc.territory}"


def message_language(tag: str | None) -> str:
    """The language messages are written in for *tag* (its primary subtag, else ``"en"``)."""
    primary = (tag or "en").split("-")[0].lower()
    return primary if primary in MESSAGE_LANGUAGES else "en"
