"""For auditors: `tierflow audit verify [--case ID]`, `tierflow audit anchor` and
`tierflow audit key`: the hash chains, and the chains against signed anchors kept
outside the database (`tierflow replay --verify` stays as the old spelling)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.cli import history
from flows.cli.common import JsonOpt, audit_app, output_path, path_text, runtime, whole_option
from flows.cli.render import emit_json, out
from states.anchor import AnchorCheck, anchor_verified, check_anchors
from states.audit import Verification, storage_problems, verify_all, verify_case
from states.audit_key import create_key
from states.commands import MAX_CASE_ID
from states.errors import InvalidInput, NotAnchored
from states.store import read_connection

AnchorFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--anchor-file",
        parser=path_text,
        help="The anchor file (default: TIERFLOW_ANCHOR_FILE, else anchors.jsonl under "
        "TIERFLOW_HOME).",
    ),
]


def _anchor_file(given: Path | None) -> Path:
    """The anchor file: --anchor-file (a regular file, or a new one in an existing
    directory, which anchoring does not create), else the settings' one."""
    if given is None:
        return runtime().settings.resolved_anchor_file
    return output_path("--anchor-file", given, kept="the anchor log")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """An anchor file that is not UTF-8 text is one error naming it (it is JSON lines)."""
    try:
        yield
    except UnicodeDecodeError:
        raise InvalidInput(
            "--anchor-file",
            str(path),
            "an anchor file of JSON lines in UTF-8 (this one is not UTF-8 text)",
        ) from None


@audit_app.command("verify")
def audit_verify(
    case_id: Annotated[
        int | None,
        whole_option("--case", metavar="ID", min=1, max=MAX_CASE_ID, help="Only this case."),
    ] = None,
    anchor_file: AnchorFileOpt = None,
    no_anchor: Annotated[
        bool, typer.Option("--no-anchor", help="Check the chains only, not the anchors.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Prove no history was altered: every case's hash chain (the first broken event, its
    number, what was expected there and what is stored), the case rows against their
    history, and the history against the latest anchor. Exit 1 if anything differs."""
    rt = runtime()
    path = _anchor_file(anchor_file)
    storage = None
    if case_id is None:
        checks = verify_all(rt.db)
        storage = storage_problems(rt.db)
    with read_connection(rt.db) as conn:
        if case_id is not None:
            checks = [verify_case(conn, case_id)]
        anchors = None
        if not no_anchor and path.exists():
            with _reading(path):
                anchors = check_anchors(conn, rt.audit_key(), path, case_id)
    _report(checks, anchors, path, no_anchor, as_json, storage)
    bad = any(not check.ok for check in checks) or (anchors is not None and not anchors.ok)
    raise typer.Exit(1 if bad or storage else 0)


@audit_app.command("anchor")
def audit_anchor(anchor_file: AnchorFileOpt = None, as_json: JsonOpt = False) -> None:
    """Sign every case's chain head and a Merkle root over them with the audit key and
    append them to the anchor file; only a history that verifies (chains, and against
    the latest anchor) is anchored. Exit 1, writing nothing, otherwise."""
    rt = runtime()
    path = _anchor_file(anchor_file)
    with _reading(path):
        run = anchor_verified(rt.db, rt.audit_key(), path, datetime.now(UTC))
    if run.written is None:
        _report(run.checks, run.previous, path, False, as_json)
        raise NotAnchored(f"nothing anchored: the history does not verify (see above); {path}")
    anchor = run.written
    if as_json:
        emit_json(
            {
                "anchor_file": str(path),
                "line": anchor.line,
                "anchored_at": anchor.anchored_at,
                "cases": len(anchor.heads),
                "events": anchor.events,
                "root": anchor.root,
                "key_id": anchor.key_id,
            }
        )
        return
    out(
        f"anchored {len(anchor.heads)} cases ({anchor.events} events) at "
        f"{anchor.anchored_at:%Y-%m-%d %H:%M:%S} UTC: line {anchor.line} of {path}, Merkle "
        f"root {anchor.root}, key id {anchor.key_id}"
    )


@audit_app.command("key")
def audit_key() -> None:
    """Create the audit key file (64 random hex digits, mode 0600) where the settings say
    (TIERFLOW_AUDIT_KEY_FILE, else audit.key under TIERFLOW_HOME); an existing one is kept.
    Keep a copy away from this machine: without it the anchors cannot be checked."""
    path = runtime().settings.resolved_audit_key_file
    key = create_key(path)
    out(f"audit key written to {path} (mode 0600), key id {key.key_id}")


def _report(
    checks: list[Verification],
    anchors: AnchorCheck | None,
    path: Path,
    skipped: bool,
    as_json: bool,
    storage: list[str] | None = None,
) -> None:
    """`storage`: what the database's structure check found (`storage_problems`), None
    when it was not run (one case, PostgreSQL)."""
    bad = [check for check in checks if not check.ok]
    if as_json:
        emit_json(
            {
                "cases": len(checks),
                "failed": [_failure(check) for check in bad],
                "anchor": _anchor_json(anchors, path, skipped),
                "storage": {"checked": storage is not None, "problems": storage or []},
            }
        )
        return
    history.verifications(checks, as_json=False)
    for problem in storage or ():
        out(f"STORAGE: {problem}")
    if storage == []:
        out("storage: the database file's structure checks out (SQLite quick_check)")
    if skipped:
        out("anchors not checked (--no-anchor)")
    elif anchors is None:
        out(f"no anchor yet in {path}: the chains alone were checked")
    elif anchors.ok and anchors.latest is not None:
        latest = anchors.latest
        out(
            f"against the anchor of {latest.anchored_at:%Y-%m-%d %H:%M:%S} UTC (line "
            f"{latest.line} of {path}): unchanged"
        )
    else:
        for problem in anchors.problems():
            out(f"ANCHOR: {problem}")


def _failure(check: Verification) -> dict[str, Any]:
    broken = check.first_broken
    return {
        "case_id": check.case_id,
        "first_broken": None if broken is None else broken.as_dict(),
        "problems": check.problems,
    }


def _anchor_json(anchors: AnchorCheck | None, path: Path, skipped: bool) -> dict[str, Any]:
    if skipped or anchors is None:
        return {"file": str(path), "checked": False, "skipped": skipped}
    latest = anchors.latest
    return {
        "file": str(path),
        "checked": True,
        "ok": anchors.ok,
        "lines": anchors.lines,
        "latest": None
        if latest is None
        else {"line": latest.line, "anchored_at": latest.anchored_at, "root": latest.root},
        "wrong_key": anchors.wrong_key,
        "file_problems": anchors.file_problems,
        "changed": [
            {"case_id": case_id, "what": what} for case_id, what in sorted(anchors.changed.items())
        ],
    }
