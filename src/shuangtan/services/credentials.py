"""Passwords and bearer tokens.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile). Tokens are 32
random bytes; only their SHA-256 is stored, which is enough for a secret of that entropy and
keeps each request's lookup to one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shuangtan.errors import InputError

__all__ = [
    "TOKEN_PREFIX",
    "check_password_strength",
    "hash_password",
    "hash_token",
    "new_token",
    "password_needs_rehash",
    "verify_password",
]

#: Every token starts with this, so secret scanners can recognise a leaked one.
TOKEN_PREFIX = "stk_"
MIN_PASSWORD_LENGTH = 8


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_password_strength(password: str, *, field: str = "password") -> None:
    """Refuse passwords that are too short or too long.

    Raises
    ------
    InputError
        Naming ``field``.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"must be at least {MIN_PASSWORD_LENGTH} characters", field=field)
    if len(password) > 1024:
        raise InputError("must be at most 1024 characters", field=field)


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password``."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; never raises for a wrong password."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(password_hash)


def new_token() -> str:
    """A fresh bearer token (shown once; store only :func:`hash_token` of it)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
