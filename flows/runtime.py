"""Wiring: settings → database engine → process → domain engine, built once per process.

The CLI, flows and the dashboard all start here, so they agree on where the
data lives and which process definition applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine as SAEngine

from flows.schedules import SHIPPED, FlowParameter, Schedules, load_schedules
from flows.senders import ConsoleSink, FileSink, SmtpSender
from states.audit_key import AuditKey, ensure_key, load_key
from states.engine import Engine
from states.errors import StoreError
from states.outbox import Sender
from states.policy import Policy, load_policy
from states.process import ProcessDefinition, load_process
from states.settings import Settings, load_settings
from states.store import check_schema, init_schema, make_engine


def catalogue() -> dict[str, dict[str, FlowParameter]]:
    """The flows a schedule may run, read from the flows themselves (imported on demand,
    and with them Prefect, which validates PREFECT_API_URL on import: checked first)."""
    from flows.prefect_api import checked_prefect_settings

    checked_prefect_settings()
    from flows.catalogue import flow_catalogue

    return flow_catalogue()


@dataclass
class Runtime:
    settings: Settings

    @classmethod
    def from_env(cls, **overrides: object) -> Runtime:
        return cls(load_settings(**overrides))

    @cached_property
    def db(self) -> SAEngine:
        """The database; a SQLite file must exist already (`init` creates it), with this
        release's schema (`check_schema`)."""
        db = make_engine(self.settings.resolved_database_url, create=False)
        try:
            check_schema(db)
        except BaseException:
            db.dispose()
            raise
        return db

    @cached_property
    def process(self) -> ProcessDefinition:
        return load_process(self.settings.process_file)

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_file, self.process)

    @cached_property
    def engine(self) -> Engine:
        return Engine(self.db, self.process, self.policy)

    def close(self) -> None:
        """Release what this runtime opened: the engine's checkpoint thread and kept
        connections, the database's pool. A run of a flow, in a process that serves many,
        ends with it; a later use opens them again."""
        if "engine" in self.__dict__:
            self.engine.close()
        if "db" in self.__dict__:
            self.db.dispose()

    @cached_property
    def schedules(self) -> Schedules:
        """The schedules in force: the ops file if there is one, else the shipped defaults."""
        return load_schedules(self.schedules_source, catalogue())

    @property
    def schedules_source(self) -> Path:
        ops = self.settings.ops_schedules_file
        return ops if self.settings.schedules_file or ops.exists() else SHIPPED

    def sender(self, sink: str | None = None, console: TextIO | None = None) -> Sender:
        """The notification sender the settings name (or `sink`); the console sink prints
        to `console` (default: standard output)."""
        s = self.settings
        sink = sink or s.notify_sink
        if sink == "console":
            return ConsoleSink(console)
        if sink == "smtp":
            return SmtpSender(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                s.smtp_username,
                s.smtp_password,
                s.smtp_starttls,
            )
        return FileSink(s.outbox_file)

    def init(self) -> None:
        """Create the data directory, the database and its tables (safe to run again)."""
        home = self.settings.home
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {home} (TIERFLOW_HOME): {exc.strerror or exc}"
            ) from None
        self.__dict__["db"] = make_engine(self.settings.resolved_database_url)  # may create
        init_schema(self.db)
        ensure_key(self._audit_key_text, self.settings.resolved_audit_key_file)

    def audit_key(self) -> AuditKey:
        """The key that signs audit anchors (TIERFLOW_AUDIT_KEY, else the key file)."""
        return load_key(self._audit_key_text, self.settings.resolved_audit_key_file)

    @property
    def _audit_key_text(self) -> str | None:
        key = self.settings.audit_key
        return None if key is None else key.get_secret_value()
