"""Real Chromium (Debian's, never a downloaded one) against the `portal demo` stack."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from portal.devstack.demo import DemoStack, demo_stack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
OUTPUT = ROOT / "test-output" / "browser"
#: Without these, Chromium phones home at start and this closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def stack() -> Iterator[DemoStack]:
    with demo_stack(0, fulfilment_delay=1.0) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh English browser profile; screenshots of its pages if the test fails."""
    # bypass_csp lets the test inject axe-core past the portal's own script-src 'self'.
    ctx = browser.new_context(
        locale="en-US", viewport=DESKTOP, accept_downloads=True, bypass_csp=True
    )
    ctx.set_default_timeout(10_000)
    # Everything under test is on loopback; the provider's page links a CDN stylesheet
    # this network cannot reach, so such requests fail at once instead of hanging.
    ctx.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    yield ctx
    if request.node.stash.get(_FAILED, False):
        folder = OUTPUT / _safe(request.node.name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for number, open_page in enumerate(ctx.pages):
            open_page.screenshot(path=str(folder / f"page-{number}.png"), full_page=True)
            (folder / f"page-{number}.url").write_text(open_page.url)
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def hanako_cookies(browser: Browser, stack: DemoStack) -> list[Any]:
    """One login shared by the page checks: the portal allows 20 logins a minute per IP."""
    ctx = browser.new_context()
    ctx.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    log_in(ctx.new_page(), stack)
    cookies = ctx.cookies(stack.portal_url)
    ctx.close()
    return list(cookies)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


def log_in(page: Page, stack: DemoStack, email: str = "hanako@example.jp") -> None:
    """Log in through the provider's form, the way a customer does."""
    page.goto(f"{stack.portal_url}/orders")
    page.wait_for_url(f"{stack.oidc_url}/**")
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{stack.portal_url}/orders")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "targets": [node["target"] for node in violation["nodes"]],
        }
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def axe_summary(page: Page) -> dict[str, int]:
    """Every violation axe reports, by rule and impact, for the record."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return {f"{v['id']} ({v['impact']})": len(v["nodes"]) for v in result["violations"]}


def sideways_overflow(page: Page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def record(name: str, data: object) -> None:
    """Keep a result under test-output/ for whoever reads the run."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
