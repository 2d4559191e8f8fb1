"""Signing keys of verifier organisations: Ed25519, wrapped at rest under the platform's key.

The private half of each key is stored in the database encrypted with AES-256-GCM under a
key-encryption key (KEK) kept in a file beside the database (``SHUANGTAN_KEY_FILE``), so a copy
of the database alone cannot sign. The KEK is made on first use (32 bytes from the OS's random
source, file mode 0600); losing it means new keys, not lost statements: old statements stay
verifiable with the public keys, which are stored in the clear.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shuangtan.errors import ShuangtanError

__all__ = ["KeyVault", "KeyVaultError"]

_AAD: Final = b"shuangtan signing key v1"


class KeyVaultError(ShuangtanError):
    """The key-encryption key is missing, unreadable, or not the one a key was wrapped with."""


class KeyVault:
    """Makes, wraps and uses Ed25519 signing keys.

    Parameters
    ----------
    key_file : pathlib.Path
        The key-encryption key; made (mode 0600) if it does not exist.
    """

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._kek: bytes | None = None

    def _key(self) -> bytes:
        if self._kek is None:
            if not self.key_file.exists():
                self.key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secrets.token_bytes(32))
            data = self.key_file.read_bytes()
            if len(data) != 32:
                raise KeyVaultError(
                    f"{self.key_file} is not a 32-byte key", field="SHUANGTAN_KEY_FILE"
                )
            self._kek = data
        return self._kek

    def new_key(self) -> tuple[str, str]:
        """A new key pair: (public key [base64 of 32 raw bytes], wrapped private key [base64])."""
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        nonce = secrets.token_bytes(12)
        wrapped = nonce + AESGCM(self._key()).encrypt(nonce, raw, _AAD)
        return base64.b64encode(public).decode(), base64.b64encode(wrapped).decode()

    def sign(self, wrapped_private_key: str, message: bytes) -> str:
        """Sign ``message`` with a wrapped key; the signature [base64].

        Raises
        ------
        KeyVaultError
            The key was wrapped under another key-encryption key.
        """
        blob = base64.b64decode(wrapped_private_key)
        try:
            raw = AESGCM(self._key()).decrypt(blob[:12], blob[12:], _AAD)
        except InvalidTag:
            raise KeyVaultError(
                "the signing key was wrapped under another key-encryption key"
                f" than {self.key_file}",
                field="SHUANGTAN_KEY_FILE",
            ) from None
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return base64.b64encode(private.sign(message)).decode()
