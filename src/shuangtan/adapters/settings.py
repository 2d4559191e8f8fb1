"""Settings read from the environment, once, at the front door.

``SHUANGTAN_DATABASE_URL``
    SQLAlchemy URL of the platform database. Default: the SQLite file ``var/shuangtan.db``
    under the working directory. PostgreSQL: ``postgresql+psycopg://user@host:5432/dbname``.
``SHUANGTAN_TOKEN_HOURS``
    Lifetime of a login token [h]. Default 12.
``SHUANGTAN_SYNC_DELAY_S``
    How long after readings arrive the activity data and inventories follow them [s].
    Default 5.
``SHUANGTAN_UPLOAD_DIR``
    Where uploaded files wait for their import job. Default ``var/uploads``.
``SHUANGTAN_KEY_FILE``
    The platform's key-encryption key (32 random bytes, mode 0600), which wraps the verifier
    organisations' Ed25519 signing keys stored in the database. Made on first use. Default
    ``var/keys/platform.key``. Keep it out of backups of the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shuangtan.errors import InputError

__all__ = ["DEFAULT_SQLITE", "Settings"]

DEFAULT_SQLITE = Path("var") / "shuangtan.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """The platform's settings.

    Attributes
    ----------
    database_url : str
        SQLAlchemy URL of the database.
    token_hours : float
        Lifetime of tokens issued by a password login. [h]
    sync_delay_s : float
        Delay before activity data follows newly arrived readings. [s]
    upload_dir : pathlib.Path
        Where uploaded files wait for their import job.
    key_file : pathlib.Path
        The key-encryption key of the signing keys.
    """

    database_url: str
    token_hours: float = 12.0
    sync_delay_s: float = 5.0
    upload_dir: Path = Path("var") / "uploads"
    key_file: Path = Path("var") / "keys" / "platform.key"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (the process environment by default).

        Raises
        ------
        InputError
            A variable is set to something unusable; the field names the variable.
        """
        env = os.environ if environ is None else environ
        url = env.get("SHUANGTAN_DATABASE_URL", "").strip()
        if not url:
            url = f"sqlite:///{DEFAULT_SQLITE}"
        elif not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise InputError(
                "must be a sqlite:/// or postgresql+psycopg:// URL",
                field="SHUANGTAN_DATABASE_URL",
            )
        if url.startswith("postgresql:"):
            # psycopg 3 is the driver we ship; the bare scheme would ask for psycopg2.
            url = "postgresql+psycopg:" + url.removeprefix("postgresql:")
        hours_text = env.get("SHUANGTAN_TOKEN_HOURS", "12")
        try:
            hours = float(hours_text)
        except ValueError:
            raise InputError("must be a number of hours", field="SHUANGTAN_TOKEN_HOURS") from None
        if not 0 < hours <= 24 * 366:
            raise InputError("must be > 0 and ≤ 8784", field="SHUANGTAN_TOKEN_HOURS")
        delay_text = env.get("SHUANGTAN_SYNC_DELAY_S", "5")
        try:
            delay = float(delay_text)
        except ValueError:
            raise InputError(
                "must be a number of seconds", field="SHUANGTAN_SYNC_DELAY_S"
            ) from None
        if not 0 <= delay <= 3600:
            raise InputError("must be between 0 and 3600", field="SHUANGTAN_SYNC_DELAY_S")
        uploads = Path(env.get("SHUANGTAN_UPLOAD_DIR", "") or Path("var") / "uploads")
        key_file = Path(env.get("SHUANGTAN_KEY_FILE", "") or Path("var") / "keys" / "platform.key")
        return cls(
            database_url=url,
            token_hours=hours,
            sync_delay_s=delay,
            upload_dir=uploads,
            key_file=key_file,
        )
