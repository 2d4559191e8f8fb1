"""Who may do what, where: roles on organisation subtrees, and token scopes.

A caller is a :class:`Principal`: a user with role grants, each on an organisation subtree
(identified by the organisation's materialised path ``/1/5/``), seen through a token whose
scopes may narrow what the roles allow. Repositories turn :meth:`Principal.prefixes` into the
``WHERE`` clause of every query, so scoping cannot be forgotten in a router.

=====================  =====================================================================
role                   may
=====================  =====================================================================
``platform_admin``     everything, everywhere
``regulator``          read the subtree it is granted (its region); assign verifiers to the
                       inventories submitted in it
``org_admin``          read and write its subtree: organisations, sources, meters, activity
                       data, inventories, users' roles; submit and publish inventories for
                       verification, assign verifiers, answer findings
``data_entry``         read its subtree; write activity data; recompute inventories; answer
                       findings
``verifier``           read the subtrees it is granted. Held on a verifier organisation, it
                       makes its holder a member of that body: the cases assigned to the body
                       become readable (the organisation's lineage, read-only) and the member
                       raises findings, returns, and verifies them
                       (:mod:`shuangtan.services.verification`)
``viewer``             read its subtree
=====================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shuangtan.domain.platform import Role

__all__ = ["SCOPES", "Action", "Grant", "Principal", "roles_allowing"]


class Action(StrEnum):
    """Things a caller can do to an organisation subtree."""

    READ = "read"
    WRITE_ORGANIZATION = "write_organization"
    WRITE_CONFIGURATION = "write_configuration"
    WRITE_ACTIVITY = "write_activity"
    RECOMPUTE = "recompute"
    MANAGE_USERS = "manage_users"
    SUBMIT = "submit"
    ASSIGN_VERIFIER = "assign_verifier"
    RESPOND = "respond"


#: Token scopes and the actions each admits.
SCOPES: Final[dict[str, frozenset[Action]]] = {
    "read": frozenset({Action.READ}),
    # Writing implies reading: every write first finds the thing it changes.
    "write": frozenset(
        {
            Action.READ,
            Action.WRITE_ORGANIZATION,
            Action.WRITE_CONFIGURATION,
            Action.WRITE_ACTIVITY,
            Action.RECOMPUTE,
            Action.MANAGE_USERS,
            Action.SUBMIT,
            Action.ASSIGN_VERIFIER,
            Action.RESPOND,
        }
    ),
}

_ALLOWED: Final[dict[Role, frozenset[Action]]] = {
    Role.PLATFORM_ADMIN: frozenset(Action),
    Role.REGULATOR: frozenset({Action.READ, Action.ASSIGN_VERIFIER}),
    Role.ORG_ADMIN: frozenset(Action),
    Role.DATA_ENTRY: frozenset(
        {Action.READ, Action.WRITE_ACTIVITY, Action.RECOMPUTE, Action.RESPOND}
    ),
    Role.VERIFIER: frozenset({Action.READ}),
    Role.VIEWER: frozenset({Action.READ}),
}


def roles_allowing(action: Action) -> frozenset[Role]:
    """The roles that allow ``action`` on their subtree."""
    return frozenset(role for role, actions in _ALLOWED.items() if action in actions)


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on a subtree; ``org_path`` is ``None`` for a platform-wide grant."""

    role: Role
    org_id: int | None
    org_path: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    Attributes
    ----------
    user_id : int
        The user's id.
    username : str
        The user's login name.
    grants : tuple[Grant, ...]
        Role grants.
    scopes : frozenset[str]
        Scopes of the token the caller presented (``read``, ``write``).
    token_id : int or None
        The token's id, for revocation of the current session.
    """

    user_id: int
    username: str
    grants: tuple[Grant, ...]
    scopes: frozenset[str]
    token_id: int | None = None

    @property
    def is_platform_admin(self) -> bool:
        """Whether the caller holds the platform-wide admin role."""
        return any(g.role is Role.PLATFORM_ADMIN for g in self.grants)

    def scope_allows(self, action: Action) -> bool:
        """Whether the token's scopes admit ``action`` at all."""
        return any(action in SCOPES.get(scope, frozenset()) for scope in self.scopes)

    def prefixes(self, action: Action, *, roles_only: bool = False) -> tuple[str, ...] | None:
        """Subtree paths where ``action`` is allowed.

        Parameters
        ----------
        action : Action
            The action.
        roles_only : bool
            Ignore the token's scopes: where the roles alone would allow it (for deciding what
            a read-only token may *see*, e.g. the users its owner manages).

        Returns
        -------
        tuple[str, ...] or None
            ``None`` means everywhere (platform admin); an empty tuple means nowhere.
        """
        if not roles_only and not self.scope_allows(action):
            return ()
        if any(g.role is Role.PLATFORM_ADMIN and action in _ALLOWED[g.role] for g in self.grants):
            return None
        paths = {
            g.org_path for g in self.grants if g.org_path is not None and action in _ALLOWED[g.role]
        }
        return _minimal(paths)

    def allows(self, action: Action, org_path: str) -> bool:
        """Whether ``action`` is allowed on the organisation at ``org_path``."""
        prefixes = self.prefixes(action)
        if prefixes is None:
            return True
        return any(org_path.startswith(p) for p in prefixes)

    def roles_on(self, org_path: str) -> frozenset[Role]:
        """The roles the caller holds on the organisation at ``org_path`` (inherited included)."""
        return frozenset(
            g.role for g in self.grants if g.org_path is None or org_path.startswith(g.org_path)
        )


def _minimal(paths: Iterable[str]) -> tuple[str, ...]:
    """Drop paths inside another path of the set: ``/1/`` covers ``/1/5/``."""
    kept: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))
