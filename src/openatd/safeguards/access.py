"""Purpose limitation (DESIGN principle 2): who may read what about whom.

- A case manager reads only participants on their caseload.
- A supervisor reads every participant's records (reviews violations, sets policy), but
  *location* (positions, tracks, exports) only of participants assigned to them; reading
  another caseload's locations is an explicit act (``cross_caseload=true`` with a reason),
  recorded as such in the audit log (:func:`require_location_access`). The evidence packet
  of one alert, read to decide it, is the one exception, and is recorded as cross-caseload.
- An auditor reads the audit log, not personal data.
- An administrator manages users and devices, not personal data.

There is deliberately no function here, nor anywhere, that answers "which
participants were near place X at time T".
"""

from __future__ import annotations

from collections.abc import Sequence

from openatd.errors import InvalidInput, PermissionDenied
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.repositories import UnitOfWork

PERSONAL_DATA_ROLES = frozenset({Role.CASE_MANAGER, Role.SUPERVISOR})


def require_role(user: TokenClaims, *roles: Role) -> None:
    """Raises PermissionDenied unless *user* has one of *roles*."""
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"role {user.role.value} may not do this (needs {allowed})")


def require_participant_access(uow: UnitOfWork, user: TokenClaims, participant_id: int) -> None:
    """Raises PermissionDenied unless *user* may read *participant_id*'s personal data.

    The participant must exist (NotFound otherwise) so that a 403 does not leak
    anything a 404 would not.
    """
    uow.participants.get(participant_id)
    if user.role is Role.SUPERVISOR:
        return
    if user.role is Role.CASE_MANAGER and uow.participants.is_assigned(
        user.user_id, participant_id
    ):
        return
    raise PermissionDenied(f"participant {participant_id} is not on your caseload")


def require_location_access(
    uow: UnitOfWork, user: TokenClaims, participant_id: int, *, cross_caseload: bool = False
) -> bool:
    """Raises PermissionDenied unless *user* may read *participant_id*'s locations.

    Staff assigned to the participant may. A supervisor who is not assigned may only with
    *cross_caseload* set (the caller also requires a reason and records both). Returns
    whether the read is a cross-caseload read.

    Raises:
        NotFound: no such participant. PermissionDenied: as above.
    """
    uow.participants.get(participant_id)
    if user.role in (Role.CASE_MANAGER, Role.SUPERVISOR) and uow.participants.is_assigned(
        user.user_id, participant_id
    ):
        return False
    if user.role is Role.SUPERVISOR:
        if cross_caseload:
            return True
        raise PermissionDenied(
            f"participant {participant_id} is not on your caseload: a supervisor reads another "
            "caseload's locations only as a cross-caseload read (cross_caseload=true and a "
            "reason), which the audit log records as such"
        )
    raise PermissionDenied(f"participant {participant_id} is not on your caseload")


def visible_participant_ids(uow: UnitOfWork, user: TokenClaims) -> Sequence[int] | None:
    """Participant ids *user* may see: ``None`` means all (supervisor)."""
    if user.role is Role.SUPERVISOR:
        return None
    if user.role is Role.CASE_MANAGER:
        return [p.id for p in uow.participants.list(user_id=user.user_id)]
    return []


REASON_MIN = 10
REASON_MAX = 1000


def require_reason(reason: str | None, *, purpose: str, minimum: int = REASON_MIN) -> str:
    """A stated reason, cleaned: stripped, at least *minimum* characters with at least five
    letters or digits (dots or invisible characters are not a reason), at most
    :data:`REASON_MAX` characters.

    Raises:
        InvalidInput: naming *purpose* ("to read positions") and the rule broken.
    """
    text = " ".join((reason or "").split())
    meaningful = sum(ch.isalnum() for ch in text)
    if len(text) < minimum or meaningful < 5:
        raise InvalidInput(
            f"a reason of at least {minimum} characters is required {purpose} "
            "(it is recorded in the audit log)"
        )
    if len(text) > REASON_MAX:
        raise InvalidInput(f"a reason may have at most {REASON_MAX} characters")
    return text
