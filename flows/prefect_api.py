"""The Prefect server a command talks to (``PREFECT_API_URL``) and Prefect's own settings,
checked before Prefect is imported: Prefect validates its settings on import and, for a
value it cannot parse, prints a line and ends in a traceback of its own."""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import urllib.parse
import urllib.request

from pydantic import ValidationError

from states.errors import TierflowError, shown


class PrefectSettingsError(TierflowError):
    """PREFECT_API_URL or another of Prefect's settings is not usable."""


def url_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200
    except (OSError, ValueError, http.client.HTTPException):  # not a URL urllib can open
        return False


def api_ready(api_url: str, timeout: float = 2.0) -> bool:
    return url_answers(f"{api_url}/health", timeout)


API_URL_ALLOWED = "the URL of a running Prefect server's API, e.g. http://127.0.0.1:4200/api"


def given_api_url() -> str | None:
    """PREFECT_API_URL if set, checked as a URL before anything imports Prefect: Prefect
    validates its settings on import and, for a URL it cannot parse, prints a line and
    a traceback of its own. None when the variable is unset or empty."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return None
    given = shown(url)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- read for its ValueError: a port out of range or not a number
    except ValueError as exc:  # an unclosed "[" of an IPv6 host, a port "99999"
        raise PrefectSettingsError(
            f"PREFECT_API_URL={given} is not a valid URL ({exc}); give {API_URL_ALLOWED}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PrefectSettingsError(
            f"PREFECT_API_URL={given} is not an http(s) URL; give {API_URL_ALLOWED}"
        )
    return url


def answering_api() -> str | None:
    """PREFECT_API_URL (`given_api_url`) if set, and a Prefect server answers there,
    checked before a command talks to it: else one PrefectSettingsError naming the
    variable, its value and what is wrong, where Prefect's client would end in a long
    traceback (httpx.UnsupportedProtocol, ConnectError, "Failed to reach API")."""
    url = given_api_url()
    if url is not None and not api_ready(url.rstrip("/")):
        raise PrefectSettingsError(
            f"PREFECT_API_URL={shown(url)}: no Prefect server answers there; start one "
            f"(`prefect server start`) or give {API_URL_ALLOWED}"
        )
    return url


def configured_api_url() -> str | None:
    """The Prefect API this process was given (PREFECT_API_URL; `serve` gives it to the
    dashboard)."""
    return os.environ.get("PREFECT_API_URL") or None


def prefect_ui_url(api_url: str | None) -> str | None:
    """The Prefect UI of the API at `api_url`, if it answers now; None when no server runs."""
    if not api_url or not api_ready(api_url, timeout=1.0):
        return None
    return api_url.removesuffix("/").removesuffix("/api")


def checked_prefect_settings() -> None:
    """Refuse, in one line, settings Prefect would fail on when imported: PREFECT_API_URL
    (`given_api_url`), then every PREFECT_* setting as Prefect reads them. Prefect's own
    line on stderr ("Failed to initialize plugins") is kept out of the terminal."""
    given_api_url()
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            import prefect.context  # noqa: F401 -- builds Prefect's settings on import
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in (exc.title, *first["loc"]))
            raise PrefectSettingsError(
                f"Prefect's settings are not valid: {where}: {first['msg']} (given "
                f"{shown(first['input'])}); check the PREFECT_* environment variables"
            ) from None
