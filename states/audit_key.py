"""The key that signs audit anchors, kept outside the database.

From ``TIERFLOW_AUDIT_KEY``, else from a key file (by default ``audit.key``
under ``TIERFLOW_HOME``; ``TIERFLOW_AUDIT_KEY_FILE`` names another) that no
one but its owner may read or write: a key others can read lets them forge
anchors. ``tierflow init`` writes a random one when neither exists.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from states.errors import AuditKeyError

MIN_KEY_BYTES = 32
_KEY_ID_LABEL = b"tierflow audit key id"


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The signing key and where it came from (never printed)."""

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """A name for the key that reveals nothing of it: its HMAC of a fixed label."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()


def load_key(env_key: str | None, key_file: Path) -> AuditKey:
    """The key from ``TIERFLOW_AUDIT_KEY`` (`env_key`), else from `key_file`, which must be
    a regular file that no one but its owner can read or write (mode 0600)."""
    if env_key is not None:
        return _checked(env_key.strip().encode(), "TIERFLOW_AUDIT_KEY")
    try:
        info = key_file.stat()
    except FileNotFoundError:
        raise AuditKeyError(
            f"no audit key: set TIERFLOW_AUDIT_KEY or create the key file {key_file} "
            "(`tierflow audit key` writes one, mode 0600)"
        ) from None
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit key file {key_file}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise AuditKeyError(f"audit key file {key_file} is not a regular file")
    if info.st_mode & 0o077:
        raise AuditKeyError(
            f"audit key file {key_file} has mode {stat.S_IMODE(info.st_mode):04o}: others may "
            f"read or change it; allowed: 0600 or stricter (chmod 600 {key_file})"
        )
    try:
        secret = key_file.read_bytes().strip()
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit key file {key_file}: {exc.strerror}") from None
    return _checked(secret, str(key_file))


def _checked(secret: bytes, source: str) -> AuditKey:
    if len(secret) < MIN_KEY_BYTES:
        raise AuditKeyError(
            f"audit key from {source} has {len(secret)} bytes; allowed: at least "
            f"{MIN_KEY_BYTES} (e.g. 64 hex digits)"
        )
    return AuditKey(secret, source)


def create_key(key_file: Path) -> AuditKey:
    """Write a new random key (64 hex digits) to `key_file`, created with mode 0600; an
    existing file is never replaced (anchors signed with it could not be checked)."""
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditKeyError(
            f"audit key file {key_file} exists already; it is kept (the anchors it signed need it)"
        ) from None
    except OSError as exc:
        raise AuditKeyError(f"cannot create audit key file {key_file}: {exc.strerror}") from None
    secret = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as out:
        out.write(secret + b"\n")
    return AuditKey(secret, str(key_file))


def ensure_key(env_key: str | None, key_file: Path) -> AuditKey | None:
    """A new key in `key_file` when no key is configured anywhere (what ``init`` does);
    None when ``TIERFLOW_AUDIT_KEY`` is set or the file exists (it is left as it is)."""
    if env_key is not None or key_file.exists():
        return None
    return create_key(key_file)
