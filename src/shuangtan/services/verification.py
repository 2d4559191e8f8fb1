"""The verification workflow's rules: states, transitions, who may take them, conflicts.

A current inventory with no open case is a **draft**. Its organisation **submits** it; a
regulator or an organisation admin above it **assigns** a verifier organisation (the case is
then *in verification*); the verifier raises findings and either **returns** the case (the
organisation answers, may recompute, and **resubmits** it to the same verifier, with its
current version) or **verifies** it, which freezes the
version and signs a statement with the verifier organisation's Ed25519 key; the organisation
then **publishes** it.

=====================  ==========================  ====================  =====================
transition             from                        to                    by
=====================  ==========================  ====================  =====================
``submit``             draft                       submitted             the organisation
``assign``             submitted                   in_verification       regulator, org admin
``resubmit``           returned                    in_verification       the organisation
``return``             in_verification             returned              the verifier
``verify``             in_verification             verified              the verifier
``publish``            verified                    published             the organisation
=====================  ==========================  ====================  =====================

A verifier is a member (a ``verifier`` grant) of the assigned verifier organisation. A verifier
organisation cannot verify an organisation it belongs to or that belongs to it, and a person
who holds a role that can change the organisation's data cannot sign its statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from shuangtan.domain.platform import Role
from shuangtan.errors import ConflictError, PermissionDeniedError

__all__ = [
    "OPEN_STATES",
    "TRANSITIONS",
    "FindingStatus",
    "Severity",
    "State",
    "Transition",
    "check_independent",
    "check_signer",
    "next_state",
]


class State(StrEnum):
    """States of a verification case."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_VERIFICATION = "in_verification"
    RETURNED = "returned"
    VERIFIED = "verified"
    PUBLISHED = "published"


class Transition(StrEnum):
    """What can happen to a case."""

    SUBMIT = "submit"
    ASSIGN = "assign"
    RESUBMIT = "resubmit"
    RETURN = "return"
    VERIFY = "verify"
    PUBLISH = "publish"


class Severity(StrEnum):
    """How serious a finding is."""

    MAJOR = "major"
    MINOR = "minor"
    OBSERVATION = "observation"


class FindingStatus(StrEnum):
    """Where a finding stands."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


#: Transition → (states it leaves, state it reaches).
TRANSITIONS: Final[dict[Transition, tuple[frozenset[State], State]]] = {
    Transition.SUBMIT: (frozenset({State.DRAFT}), State.SUBMITTED),
    Transition.ASSIGN: (frozenset({State.SUBMITTED}), State.IN_VERIFICATION),
    Transition.RESUBMIT: (frozenset({State.RETURNED}), State.IN_VERIFICATION),
    Transition.RETURN: (frozenset({State.IN_VERIFICATION}), State.RETURNED),
    Transition.VERIFY: (frozenset({State.IN_VERIFICATION}), State.VERIFIED),
    Transition.PUBLISH: (frozenset({State.VERIFIED}), State.PUBLISHED),
}

#: States of a case that is still under way (one per organisation and period at most).
OPEN_STATES: Final = frozenset({State.SUBMITTED, State.IN_VERIFICATION, State.RETURNED})

#: Roles that can change an organisation's data, and so cannot sign for it.
_INTERESTED: Final = frozenset({Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.DATA_ENTRY})


def next_state(current: State, transition: Transition) -> State:
    """The state ``transition`` leads to from ``current``.

    Raises
    ------
    ConflictError
        The transition is not possible from ``current`` (field ``state``).
    """
    sources, target = TRANSITIONS[transition]
    if current not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise ConflictError(
            f"cannot {transition.value} a case that is {current.value} (only from {allowed})",
            field="state",
        )
    return target


def check_independent(org_path: str, verifier_path: str, verifier_code: str) -> None:
    """Refuse a verifier organisation that is, contains or belongs to the organisation.

    Raises
    ------
    ConflictError
        The two organisations are not independent (field ``verifier_org_id``).
    """
    if org_path.startswith(verifier_path) or verifier_path.startswith(org_path):
        raise ConflictError(
            f"{verifier_code} cannot verify its own organisation", field="verifier_org_id"
        )


def check_signer(roles_on_org: Iterable[Role], username: str, org_code: str) -> None:
    """Refuse a signer who holds a role that can change the organisation's data.

    Raises
    ------
    PermissionDeniedError
        The person is not independent of the organisation.
    """
    interested = sorted(r.value for r in set(roles_on_org) & _INTERESTED)
    if interested:
        raise PermissionDeniedError(
            f"{username} holds {', '.join(interested)} on {org_code} and cannot verify it",
            field=None,
        )
