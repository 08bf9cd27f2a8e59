"""Request and response bodies of staff account management (``api/routes/auth.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

RoleName = Literal["case_manager", "supervisor", "auditor", "admin"]


class UserAccountPublic(BaseModel):
    """A staff account as administrators see it (never a hash or a secret)."""

    id: int
    username: str
    role: str
    active: bool
    totp_enabled: bool


class UserUpdate(BaseModel):
    """An administrator's change to an account: a role, or (de)activation; audited."""

    role: RoleName | None = None
    active: bool | None = None


class PasswordChange(BaseModel):
    """A new password; ``current_password`` is required when changing your own."""

    current_password: str | None = Field(default=None, max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


class TotpStartPublic(BaseModel):
    """The enrolment to scan once: the ``otpauth://`` URI and the same as an SVG QR code."""

    username: str
    otpauth_uri: str
    qr_svg: str


class TotpConfirm(BaseModel):
    """A current 6-digit code from the authenticator, to finish enrolment."""

    code: str = Field(min_length=6, max_length=7, pattern=r"^[0-9 ]+$")


class RolePolicyUpdate(BaseModel):
    """Whether every user of the role must use a second factor."""

    require_totp: bool


class RolePolicyPublic(BaseModel):
    role: str
    require_totp: bool
