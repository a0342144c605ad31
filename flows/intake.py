"""Flow ``intake``: open cases from the watched folder and the support mailbox."""

from __future__ import annotations

from prefect import flow

from flows.runs import execute, utcnow
from flows.runtime import Runtime
from flows.sources import process_folder, process_maildir


def intake_job(runtime: Runtime, folder: str = "inbox", maildir: str = "mail") -> dict[str, int]:
    home = runtime.settings.home
    totals: dict[str, int] = {}
    for process, where in ((process_folder, folder), (process_maildir, maildir)):
        path = home / where  # an absolute `where` stays as it is
        if path.exists():
            for key, value in process(runtime.engine, path, utcnow()).counts().items():
                totals[key] = totals.get(key, 0) + value
    return totals


@flow(name="intake", log_prints=False)
def intake(folder: str = "inbox", maildir: str = "mail") -> dict[str, int]:
    """Open cases from JSONL/CSV files dropped in `folder` (processed files move to
    done/, bad rows go to rejected/ with the reason) and from the mails in the Maildir
    `maildir` (a reply carrying a case's reference becomes a message on that case).
    Relative paths are under the data directory. Each file row and each mail acts
    once, even when read again."""
    return execute("intake", intake_job, folder=folder, maildir=maildir)
