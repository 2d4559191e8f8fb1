"""The exception tree of shuangtan.

Every error a user can cause names the *field* it concerns and says *why*, so that front doors
(the ``shuangtan calc`` batch contract, the CLI, later the REST API) can report it without a
traceback. Domain errors know nothing about HTTP or exit codes; front doors map them.

::

    ShuangtanError
    ├── InputError                 bad input: a field is missing, malformed, out of range
    │   ├── UnknownUnitError       a unit string no one defines
    │   ├── UnitMismatchError      a unit of the wrong dimension (kWh where a mass is needed)
    │   └── UnknownNameError       a fuel, region, gas, species or carrier not in the library
    ├── FactorError
    │   └── FactorNotFoundError    no factor for the key, gas, region and date asked for
    ├── FactorDataError            the packaged factor data break their schema (a bug, not input)
    ├── NotFoundError              not there, or not visible to the caller
    ├── PermissionDeniedError      visible, but the caller's roles or token do not allow it
    ├── AuthenticationError        no valid credentials
    └── ConflictError              contradicts stored data (duplicate code, non-empty parent)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "FactorDataError",
    "FactorError",
    "FactorNotFoundError",
    "InputError",
    "NotFoundError",
    "PermissionDeniedError",
    "ShuangtanError",
    "UnitMismatchError",
    "UnknownNameError",
    "UnknownUnitError",
]


class ShuangtanError(Exception):
    """Base of every error raised on purpose by shuangtan.

    Parameters
    ----------
    message : str
        What went wrong, for a person.
    field : str or None
        Dotted path of the input field concerned (``"amount"``, ``"gas_factors.CH4"``), or
        ``None`` when no single field is to blame.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InputError(ShuangtanError):
    """Bad input: a field is missing, malformed or outside its allowed range."""


class UnknownUnitError(InputError):
    """A unit string that no definition covers."""

    def __init__(self, unit: str, *, field: str | None = None, hint: str = "") -> None:
        extra = f"; {hint}" if hint else ""
        super().__init__(f"unknown unit {unit!r}{extra}", field=field)
        self.unit = unit


class UnitMismatchError(InputError):
    """A unit whose dimension does not fit (an energy where a mass is needed)."""


class UnknownNameError(InputError):
    """A name (fuel, region, gas, species, carrier, GWP set) that the library does not know."""

    def __init__(
        self, kind: str, name: str, *, field: str | None = None, known: Iterable[str] = ()
    ) -> None:
        known = list(known)
        shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
        tail = f" (known: {shown})" if known else ""
        super().__init__(f"unknown {kind} {name!r}{tail}", field=field)
        self.kind = kind
        self.name = name


class FactorError(ShuangtanError):
    """A problem finding or using a factor."""


class FactorNotFoundError(FactorError):
    """No factor matches the key, gas, region and date asked for; never silently replaced."""


class FactorDataError(ShuangtanError):
    """The packaged factor data break their schema. A defect of the data, not of the input."""


class NotFoundError(ShuangtanError):
    """The thing asked for does not exist, or the caller may not see it (the two look alike)."""


class PermissionDeniedError(ShuangtanError):
    """The caller sees the thing but its roles or token scopes do not allow the action."""


class AuthenticationError(ShuangtanError):
    """No valid credentials: a wrong password, an unknown, expired or revoked token."""


class ConflictError(ShuangtanError):
    """The request contradicts stored data: a duplicate code, a non-empty organisation…"""
