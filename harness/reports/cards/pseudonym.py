"""Speaker pseudonyms for published documents: a keyed hash that is stable per results folder and not reversible.

A plain hash of a public identifier (a Common Voice ``client_id``) can be reversed by hashing the public list, so
the hash is keyed (HMAC-SHA256) with a secret salt that never leaves the machine: ``$HARNESS_PSEUDONYM_SALT`` when
set, else a random salt created once in ``<results>/.pseudonym-salt``. The same speaker gets the same pseudonym in
every run of that results folder, so cards from two runs can be compared.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from harness.core.errors import ConfigError

SALT_ENV = "HARNESS_PSEUDONYM_SALT"
SALT_FILE = ".pseudonym-salt"
PREFIX = "spk-"
DIGITS = 12  # 48 bits: collisions are negligible for any corpus's speaker count


def pseudonym(speaker: str, salt: bytes) -> str:
    """``spk-`` and the first 12 hex digits of HMAC-SHA256(salt, speaker)."""
    if not salt:
        raise ValueError("an empty salt would make pseudonyms reversible")
    digest = hmac.new(salt, str(speaker).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def salt_for(results: Path) -> bytes:
    """The salt from the environment, else the one kept in ``results`` (created on first use, owner-only)."""
    env = os.environ.get(SALT_ENV)
    if env is not None:
        if not env.strip():
            raise ConfigError(f"${SALT_ENV} is set but empty", hint="unset it, or set it to a long random secret")
        return env.encode("utf-8")
    path = results / SALT_FILE
    if not path.is_file():
        results.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it a moment ago: use theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    salt = path.read_text(encoding="ascii").strip()
    if not salt:
        raise ConfigError(f"{path}: the pseudonym salt file is empty",
                          hint="delete it to create a new salt (pseudonyms in earlier cards will change)")
    return salt.encode("ascii")
