"""Flow ``intake``: open cases from the watched folder and the support mailbox."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.runs import execute, logger, utcnow
from flows.runtime import Runtime
from flows.sources import is_maildir, process_folder, process_maildir
from states.intake import IntakeResult

#: The sources' defaults, under the data directory; named otherwise, a missing one is logged.
INBOX, MAILDIR = "inbox", "mail"


def intake_job(runtime: Runtime, folder: str = INBOX, maildir: str = MAILDIR) -> dict[str, Any]:
    """Both sources, when they exist (a relative path is under the data directory); one
    named other than by default that does not is said in the run's log, so a mistyped
    folder is not a quiet zero (the default ones may well be unused)."""
    home, now = runtime.settings.home, utcnow()
    total, counts = IntakeResult(), {"files": 0, "mails": 0}
    folder_path, maildir_path = home / folder, home / maildir
    if folder != INBOX and not folder_path.is_dir():
        logger().warning("intake folder %s is not a directory: nothing read", folder_path)
    if maildir != MAILDIR and not is_maildir(maildir_path):
        logger().warning(
            "intake maildir %s is not a Maildir (cur/, new/, tmp/): nothing read", maildir_path
        )
    if folder_path.is_dir():
        report = process_folder(runtime.engine, folder_path, now)
        counts["files"] = len(report.files)
        total.add(report.total)
        for file in report.files:
            if file.result.rejected or file.error:
                logger().warning(
                    "%s: %d rows rejected%s (see %s)",
                    file.name,
                    len(file.result.rejected),
                    f"; {file.error}" if file.error else "",
                    file.errors_file,
                )
    if is_maildir(maildir_path):  # all three: one missing failed the run after the folder
        acknowledge = runtime.settings.acknowledge_mail
        mail = process_maildir(runtime.engine, maildir_path, now, acknowledge=acknowledge)
        counts["mails"] = mail.read
        total.add(mail.result)
    return {
        **counts,
        "opened": total.opened,
        "updated": total.updated,
        "resumed": total.resumed,
        "escalated": total.escalated,
        "replayed": total.replayed,
        "rejected": len(total.rejected),
    }


@flow(name="intake", log_prints=False)
async def intake(folder: str = INBOX, maildir: str = MAILDIR) -> dict[str, Any]:
    """Open cases from JSONL/CSV files dropped in `folder` (processed files move to
    done/, bad rows go to rejected/ with the row, field and reason) and from the mails
    in the Maildir `maildir` (a reply whose subject carries a case's reference becomes
    a message on that case, and resumes it if it waited on the customer). Relative
    paths are under the data directory. Each file row and each mail acts once, even
    when read again."""
    return execute("intake", intake_job, folder=folder, maildir=maildir)
