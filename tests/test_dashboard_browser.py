"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against
``streamlit run`` on a demo database. Screenshots go to the test's output directory
(and, with TIERFLOW_SCREENSHOTS=DIR, the Pipeline and Case ones to DIR for the README)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.runtime import Runtime
from states.demo import generate_demo
from states.store import CASE, EVENT, read_connection

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_CASES = 40
WAIT_MS = 60_000
FIRST_WAIT_MS = 300_000  # the first run imports the domain: minutes on a loaded machine

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


def _no_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM} (`make browser` installs Debian's package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed: {exc}"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    runtime = Runtime.from_env(home=home, database_url=f"sqlite:///{home / 'tierflow.db'}")
    runtime.init()
    generate_demo(runtime.engine, cases=DEMO_CASES, seed=2013, now=datetime.now(UTC))
    runtime.db.dispose()
    return home


@pytest.fixture(scope="module")
def dashboard(demo_home: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on the demo database; yields its URL."""
    reason = _no_browser()
    if reason:
        pytest.skip(reason)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERFLOW_")}
    env.update(TIERFLOW_HOME=str(demo_home), PYTHONPATH=str(ROOT))
    log = (demo_home / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=demo_home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"streamlit did not start: {(demo_home / 'streamlit.log').read_text()}"
                    )
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


def _settle(page: object, ms: int) -> None:
    """Let charts finish drawing, for screenshots the README shows (TIERFLOW_SCREENSHOTS);
    what the test checks is on the page already."""
    if os.environ.get("TIERFLOW_SCREENSHOTS"):
        page.wait_for_timeout(ms)  # type: ignore[attr-defined]


def _shoot(page: object, out: Path, name: str) -> None:
    target = out / f"dashboard-{name}.png"
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    wanted = os.environ.get("TIERFLOW_SCREENSHOTS")
    if wanted and name in ("pipeline", "case"):
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(wanted) / target.name)


def test_pipeline_cases_and_audit_render_and_a_case_opens_from_the_table(
    dashboard: str, demo_home: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    db = Runtime.from_env(home=demo_home).db
    with read_connection(db) as conn:
        total = conn.execute(select(func.count()).select_from(CASE)).scalar_one()
        open_cases = conn.execute(
            select(func.count()).select_from(CASE).where(CASE.c.resolved_at.is_(None))
        ).scalar_one()
        busiest = conn.execute(  # the case with the longest history, for the screenshot
            select(EVENT.c.case_id).group_by(EVENT.c.case_id).order_by(func.count().desc())
        ).first()[0]
    db.dispose()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)

        page.goto(dashboard)
        metric = page.get_by_test_id("stMetric").filter(has_text="Cases").first
        expect(metric).to_contain_text(str(total), timeout=FIRST_WAIT_MS)
        expect(page.locator("[data-testid='stGraphVizChart'] svg")).to_be_visible()
        expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible()
        _settle(page, 1500)
        _shoot(page, tmp_path, "pipeline")

        page.goto(f"{dashboard}/cases")
        expect(page.get_by_text(f"{open_cases} open cases")).to_be_visible()
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        page.wait_for_timeout(1000)  # the grid takes clicks once drawn
        _shoot(page, tmp_path, "cases")
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # the first row's selection box
        page.wait_for_url(re.compile(r"/case\?case=\d+"))
        case_id = re.search(r"case=(\d+)", page.url).group(1)  # type: ignore[union-attr]
        expect(page.get_by_role("heading", name=re.compile(f"^#{case_id} "))).to_be_visible()
        expect(page.get_by_text("Clock ledger")).to_be_visible()
        expect(page.get_by_test_id("stMetric").first).to_contain_text("State")
        page.goto(f"{dashboard}/case?case={busiest}")
        expect(page.get_by_role("heading", name=re.compile(f"^#{busiest} "))).to_be_visible()
        expect(page.get_by_test_id("stMetric").first).to_contain_text("State")
        _settle(page, 1000)
        _shoot(page, tmp_path, "case")

        page.goto(f"{dashboard}/audit")
        expect(page.get_by_role("heading", name="Audit")).to_be_visible()
        _shoot(page, tmp_path, "audit")
        browser.close()
    assert (tmp_path / "dashboard-pipeline.png").stat().st_size > 10_000
