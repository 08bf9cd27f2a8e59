"""Twilio-compatible webhooks: request signatures and TwiML answers (pure, no I/O).

Signature (``X-Twilio-Signature``), as Twilio documents it ("Webhooks security"): take the full
URL the provider requested (scheme, host, path and query string); for a form-encoded POST,
append each parameter name followed by its value, sorted by name (a repeated name: each value,
sorted); HMAC-SHA1 that string with the account's auth token as the key; Base64-encode the
digest. The header must equal it (compared in constant time).

The worked example of Twilio's page (https://www.twilio.com/docs/usage/security):

>>> sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", {"CallSid": "CA1234567890ABCDE",
...      "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030", "To": "+18005551212"})
'0/KCTR6DLpKmkAf8muzZqo1nDgQ='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    return sorted(items)


def sign(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The expected ``X-Twilio-Signature`` of a request to *url* with form *params*."""
    data = url + "".join(k + v for k, v in _pairs(params))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def valid_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
) -> bool:
    """Whether *signature* is right for the request; ``False`` when either is missing."""
    if not auth_token or not signature:
        return False
    return hmac.compare_digest(sign(auth_token, url, params), signature)


VOICES = {"en": "en-US", "es": "es-MX"}


def say(text: str, language: str = "en") -> str:
    """A TwiML ``<Say>`` element in the caller's language."""
    return f"<Say language={quoteattr(VOICES.get(language, 'en-US'))}>{escape(text)}</Say>"


def response(*elements: str) -> str:
    """A TwiML document."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(elements) + "</Response>"


def gather(action: str, prompt: str, language: str = "en", digits: int = 8) -> str:
    """A ``<Gather>`` of up to *digits* DTMF digits ending with ``#``, posted to *action*."""
    return (
        f'<Gather input="dtmf" finishOnKey="#" numDigits="{digits}" timeout="10" '
        f'method="POST" action={quoteattr(action)}>{say(prompt, language)}</Gather>'
    )
