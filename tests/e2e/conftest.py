"""Browser tests: the real ``citybrain`` commands serve the demo city, Chromium drives the pages.

The session builds the demo exactly as a new user would (``citybrain db upgrade``, ``citybrain demo
--seed 7``, ``citybrain serve``) in a temporary ``CITYBRAIN_VAR_DIR`` and drives it with Playwright's
sync API and the system's Chromium (``CITYBRAIN_CHROMIUM``, else ``chromium`` or ``chromium-browser``
on ``PATH``). Without Chromium every test here is skipped with one reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}
DEMO_SEED = "7"
READY_TIMEOUT_S = 30.0
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = "Chromium not found: apt-get install chromium (or set CITYBRAIN_CHROMIUM) to run the browser tests"


def find_chromium() -> str | None:
    """``CITYBRAIN_CHROMIUM`` when set (a path or a command name; one that does not exist means "not
    found"), else ``chromium`` or ``chromium-browser`` on ``PATH``."""
    configured = os.environ.get("CITYBRAIN_CHROMIUM")
    if configured:
        return shutil.which(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = find_chromium()


def _in_e2e(item: pytest.Item) -> bool:
    return item.path.is_relative_to(E2E_DIR)


def pytest_report_header(config: pytest.Config) -> str:
    if CHROMIUM:
        return f"browser tests (tests/e2e): run with Chromium at {CHROMIUM}"
    return f"browser tests (tests/e2e): skipped; {NO_CHROMIUM}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # One line at the end of every run (the header above is hidden by -q).
    if not CHROMIUM:
        terminalreporter.write_line(f"browser tests skipped: {NO_CHROMIUM}", yellow=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, not only this folder's.
    if CHROMIUM:
        return
    skip = pytest.mark.skip(reason=NO_CHROMIUM)
    for item in items:
        if _in_e2e(item):
            item.add_marker(skip)


# --- the server -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    var_dir: Path
    log: Path
    #: the demo admin's password, shared by the demo accounts (steward.gaj, viewer.jtj, ...)
    password: str


def _citybrain() -> str:
    """The ``citybrain`` script installed next to this interpreter (the project's virtualenv)."""
    script = Path(sys.executable).parent / "citybrain"
    if script.exists():
        return str(script)
    found = shutil.which("citybrain")
    if found is None:
        pytest.fail(f"the citybrain command is neither next to {sys.executable} nor on PATH: pip install -e .")
    return found


def _environment(var_dir: Path) -> dict[str, str]:
    """The caller's environment without any CITYBRAIN_* setting but the data folder, plus ours.

    A developer's CITYBRAIN_DATABASE_URL (or language, or environment) must not leak in: the tests
    build and serve their own demo city.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_") or k == "CITYBRAIN_DATA_DIR"}
    env["CITYBRAIN_VAR_DIR"] = str(var_dir)
    env["CITYBRAIN_ASSETS_DIR"] = str(ROOT / "node_modules")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([_citybrain(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        pytest.fail(f"citybrain {' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - our own http:// URL
            return response.status == 200
    except urllib.error.HTTPError as exc:  # 503 while not ready; close it, or it warns when collected
        exc.close()
        return False
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo city served by ``citybrain serve`` on a free port for the whole session."""
    tmp = tmp_path_factory.mktemp("e2e")
    var_dir = tmp / "var"
    env = _environment(var_dir)
    _run(["db", "upgrade"], env)
    _run(["demo", "--seed", DEMO_SEED], env)
    user, _, password = (var_dir / "demo-admin.txt").read_text(encoding="utf-8").strip().partition(" / ")
    assert user == "admin"
    assert password

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [_citybrain(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _ready(url):
                if process.poll() is not None:
                    pytest.fail(f"citybrain serve exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{url}/readyz not ready after {READY_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.2)
            yield Server(url=url, var_dir=var_dir, log=log_path, password=password)
        finally:
            _stop(process)


# --- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None  # tests are skipped at collection otherwise
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (no cookies), set up like a browser in China."""
    ctx = browser.new_context(base_url=server.url, viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save screenshots: docs/screenshots/ when CITYBRAIN_SCREENSHOTS=1 (to refresh
    the README's pictures), a temporary folder otherwise, so a test run leaves the tree clean."""
    if os.environ.get("CITYBRAIN_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


# --- helpers for the tests ---------------------------------------------------------------------------

LogIn = Callable[..., None]


@pytest.fixture
def log_in(page: Page, server: Server) -> LogIn:
    """Log in through the login form; the demo accounts share the admin's password."""
    from playwright.sync_api import expect

    def log_in(username: str = "admin", password: str | None = None) -> None:
        page.goto("/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(server.password if password is None else password)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(f"{server.url}/")

    return log_in


def nav(page: Page) -> Locator:
    """The main navigation in the header."""
    return page.get_by_role("navigation", name="main")
