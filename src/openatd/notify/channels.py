"""Delivery channels of the outbox: e-mail over SMTP and SMS through a Twilio-compatible API.

- :class:`SmtpChannel` speaks SMTP with the standard library (``smtplib``, RFC 5321), optional
  STARTTLS (RFC 3207) and AUTH; a message is one ``email.message.EmailMessage`` (RFC 5322).
- :class:`SmsChannel` posts ``To``, ``From`` and ``Body`` form-encoded to
  ``{base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (account SID,
  auth token), the layout of Twilio's Messages resource; the answer's ``sid`` is kept.

A channel raises :class:`DeliveryError` saying whether retrying can help (``permanent``).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import httpx

from openatd.errors import OpenATDError
from openatd.settings import Settings


class DeliveryError(OpenATDError):
    """A message was not delivered. ``permanent``: retrying cannot help (a refused address)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(Protocol):
    """Sends one message; returns the provider's id for it. Raises DeliveryError."""

    name: str

    def send(self, recipient: str, subject: str, body: str) -> str: ...


class SmtpChannel:
    """E-mail over SMTP (``OPENATD_SMTP_HOST``/``PORT``/``FROM``, optional user, password,
    STARTTLS). Connection errors and 4xx replies are transient; 5xx refusals are permanent."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls = user, password, starttls
        self.timeout_s = timeout_s

    def send(self, recipient: str, subject: str, body: str) -> str:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = recipient
        msg["Subject"] = subject
        msg_id = make_msgid(domain="openatd")
        msg["Message-ID"] = msg_id
        msg.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min((c for c, _ in exc.recipients.values()), default=550)
            raise DeliveryError(
                f"SMTP server refused {recipient}: {exc.recipients}", permanent=code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP server {self.host}:{self.port} failed: {exc}") from exc
        return msg_id


class SmsChannel:
    """SMS through a Twilio-compatible Messages API. HTTP 4xx (a bad number) is permanent
    except 429; 5xx and connection errors are transient."""

    name = "sms"

    def __init__(
        self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout_s: float = 10
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, recipient: str, subject: str, body: str) -> str:
        try:
            r = httpx.post(
                self.url,
                auth=self.auth,
                data={"To": recipient, "From": self.sender, "Body": body},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS provider unreachable: {exc}") from exc
        if r.status_code >= 400:
            try:
                detail = str(r.json().get("message", r.text))
            except ValueError:
                detail = r.text
            raise DeliveryError(
                f"SMS provider answered {r.status_code}: {detail[:300]}",
                permanent=400 <= r.status_code < 500 and r.status_code != 429,
            )
        try:
            sid = str(r.json()["sid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"SMS provider answer has no sid: {r.text[:200]}") from exc
        return sid


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    """The channels the settings configure (``email`` with an SMTP host, ``sms`` with an API
    URL); a message for a channel that is not configured fails its attempt with a reason."""
    out: dict[str, Channel] = {}
    if settings.smtp_host:
        out["email"] = SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )
    if settings.sms_api_url:
        out["sms"] = SmsChannel(
            settings.sms_api_url,
            settings.sms_account_sid,
            settings.sms_auth_token,
            settings.sms_from,
        )
    return out
