"""Settings: read once from the environment (``TIERFLOW_*``) and passed down.

Nothing else in tierflow reads the environment.
"""

from __future__ import annotations

import email.errors
import re
from email.headerregistry import Address
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from states.errors import ConfigError, shown
from states.fields import CONTROL

_NAMED_ADDRESS = re.compile(r"[^<>]*<([^<>]*)>\s*")

#: What each setting allows, in the words an error names it with.
ALLOWED = {
    "notify_sink": "one of file, console, smtp",
    "smtp_port": "a whole number from 1 to 65535",
    "smtp_starttls": "true or false (or 1/0, yes/no, on/off)",
    "acknowledge_mail": "true or false (or 1/0, yes/no, on/off)",
    "smtp_host": "a host name or IP address (labels of at most 63 characters, at most 253 "
    "in all, no spaces)",
    "smtp_from": "one mail address, as ops@example.com or Support <ops@example.com>",
    "smtp_username": "text without control characters",
    "smtp_password": "text without control characters",
}
_BLANK_REFUSED = ("home", "database_url", "process_file", "policy_file", "schedules_file",
                  "audit_key_file", "anchor_file")  # fmt: skip


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".tierflow",
        description="data directory (SQLite file, outbox files, logs)",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file tierflow.db under home"
    )
    process_file: Path | None = Field(
        default=None, description="process TOML replacing the shipped default"
    )
    policy_file: Path | None = Field(
        default=None, description="SLA/escalation policy TOML replacing the shipped default"
    )

    schedules_file: Path | None = Field(
        default=None,
        description="flow schedules TOML; default: schedules.toml under home, else the shipped one",
    )

    notify_sink: str = Field(
        default="file",
        pattern="^(file|console|smtp)$",
        description="where notifications go: file (outbox.jsonl under home), console or smtp",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "tierflow@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    acknowledge_mail: bool = Field(
        default=True,
        description="a case a mail opens is acknowledged to its sender, with the case "
        "number a reply must carry ([#12]); false when another system answers the mailbox",
    )

    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key that signs audit anchors (at least 32 characters); "
        "default: read from the audit key file",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="file holding the audit key (mode 0600); default: audit.key under home",
    )
    anchor_file: Path | None = Field(
        default=None,
        description="append-only file of audit anchors; default: anchors.jsonl under home",
    )

    @field_validator(*_BLANK_REFUSED, mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        """An empty TIERFLOW_HOME (or other path, or URL) is refused, not read as the
        current directory: `init` would put the database wherever it was run."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("a value, not empty; leave the variable unset for the default")
        return value

    @field_validator("smtp_host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        """Checked when read, not when the first mail goes: a host the socket layer cannot
        encode ended `notify deliver` in a traceback (a label over 63 characters)."""
        if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError(ALLOWED["smtp_host"])
        try:
            encoded = value.encode("idna")
        except UnicodeError:
            raise ValueError(ALLOWED["smtp_host"]) from None
        if len(encoded) > 253:
            raise ValueError(ALLOWED["smtp_host"])
        return value

    @field_validator("smtp_from")
    @classmethod
    def _mail_address(cls, value: str) -> str:
        """Checked when read: a From no mail can carry (a line break, no domain) failed
        every notification for good at its first delivery."""
        if not value.isprintable():
            raise ValueError(ALLOWED["smtp_from"])
        named = _NAMED_ADDRESS.fullmatch(value)  # parseaddr would drop a space in the domain
        spec = named.group(1).strip() if named else value.strip()
        try:
            address = Address(addr_spec=spec)
        except (ValueError, IndexError, email.errors.MessageError):  # IndexError: "ops@"
            raise ValueError(ALLOWED["smtp_from"]) from None
        if not (address.username and address.domain) or any(ch.isspace() for ch in spec):
            raise ValueError(ALLOWED["smtp_from"])
        return value

    @field_validator("smtp_username", "smtp_password")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """No control character (a line break would end the SMTP command); any other
        character, a zero-width space in a password included, is the user's own."""
        if value is not None and CONTROL.search(value):
            raise ValueError(ALLOWED["smtp_username"])
        return value

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.home / "audit.key"

    @property
    def resolved_anchor_file(self) -> Path:
        return self.anchor_file or self.home / "anchors.jsonl"

    @property
    def outbox_file(self) -> Path:
        return self.home / "outbox.jsonl"

    @property
    def ops_schedules_file(self) -> Path:
        """The schedules file ops edit: TIERFLOW_SCHEDULES_FILE, else schedules.toml in home."""
        return self.schedules_file or self.home / "schedules.toml"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'tierflow.db'}"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        key = f"TIERFLOW_{name.upper()}" if name else "settings"
        allowed = ALLOWED.get(name) or str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            "environment", key, f"{shown(first.get('input'))} is not allowed; allowed: {allowed}"
        ) from None
