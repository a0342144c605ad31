"""Flow ``intake``: open cases from the watched folder and the support mailbox."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.runs import logged_run, logger, utcnow, work_task
from flows.runtime import Runtime
from flows.sources import process_folder, process_maildir


@work_task
def _folder(runtime: Runtime, folder: Path) -> dict[str, int]:
    return process_folder(runtime.engine, folder, utcnow()).counts()


@work_task
def _maildir(runtime: Runtime, maildir: Path) -> dict[str, int]:
    return process_maildir(runtime.engine, maildir, utcnow()).counts()


@flow(name="intake", log_prints=False)
def intake(folder: str = "", maildir: str = "") -> dict[str, int]:
    """Open cases from JSONL/CSV files dropped in `folder` (processed files move to
    done/, bad rows go to rejected/ with the reason) and from the mails in the Maildir
    `maildir` (a reply carrying a case's reference becomes a message on that case).
    Relative paths are under the data directory; the defaults are inbox/ and mail/.
    Each file row and each mail acts once, even when read again."""
    runtime = Runtime.from_env()
    home = runtime.settings.home
    with logged_run("intake", runtime) as run:
        if run.skipped:
            return run.counts
        totals: dict[str, int] = {}
        for step, where in ((_folder, folder or "inbox"), (_maildir, maildir or "mail")):
            path = home / where
            if path.exists():
                for key, value in step(runtime, path).items():
                    totals[key] = totals.get(key, 0) + value
        run.counts = totals
        logger().info("intake: %s", ", ".join(f"{v} {k}" for k, v in totals.items()) or "nothing")
    return run.counts
