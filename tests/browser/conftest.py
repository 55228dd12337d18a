"""Real Chromium (Debian's, never a downloaded one) against the `portal demo` stack."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from portal.devstack.demo import BUCKET, DemoStack, demo_stack

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
SERIOUS = ("serious", "critical")
PHONE = {"width": 375, "height": 800}
#: The narrowest screen WCAG asks a page to work on without scrolling sideways (reflow).
NARROW = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """When a browser test fails, keep a full-page screenshot of each page it had open."""
    report = yield
    context = getattr(item, "funcargs", {}).get("context")
    if report.failed and report.when == "call" and isinstance(context, BrowserContext):
        folder = OUTPUT / _safe(item.name)
        report.sections.append(("browser screenshots", _save_screenshots(context, folder)))
    return report


def _save_screenshots(context: BrowserContext, folder: Path) -> str:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = []
    for number, open_page in enumerate(context.pages):
        path = folder / f"page-{number}.png"
        try:
            open_page.screenshot(path=str(path), full_page=True)
        except PlaywrightError as exc:  # a crashed or closed page still gets its URL listed
            lines.append(f"{open_page.url}: no screenshot ({exc.message})")
            continue
        lines.append(f"{open_page.url}: {path}")
    return "\n".join(lines) or "no page was open"


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
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (tests/system-packages)")
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh English browser profile (its pages are photographed if the test fails)."""
    ctx = english_context(browser)
    yield ctx
    ctx.close()


def english_context(
    browser: Browser, *, bypass_csp: bool = False, test_certificate: bool = False
) -> BrowserContext:
    """A new profile that asks for English pages and reaches nothing but loopback.

    ``bypass_csp`` lets a test inject a script (axe-core) past the portal's
    ``default-src 'self'``; journeys keep the policy a customer's browser enforces.
    ``test_certificate`` accepts the TLS proxy's certificate, made for the test run.
    """
    ctx = browser.new_context(
        locale="en-US",
        viewport=DESKTOP,
        accept_downloads=True,
        bypass_csp=bypass_csp,
        ignore_https_errors=test_certificate,
    )
    ctx.set_default_timeout(10_000)
    # The provider's page links a CDN stylesheet this network cannot reach: such requests
    # fail at once instead of hanging.
    ctx.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    return ctx


@pytest.fixture
def csp_refusals(context: BrowserContext, stack: DemoStack) -> list[str]:
    """What the portal's Content-Security-Policy blocked on its own pages, as it happens."""
    refusals: list[str] = []

    def note(message: ConsoleMessage) -> None:
        url = message.page.url if message.page else ""
        if url.startswith(stack.portal_url) and "Content Security Policy" in message.text:
            refusals.append(f"{url}: {message.text}")

    context.on("console", note)
    return refusals


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def hanako_cookies(browser: Browser, stack: DemoStack) -> list[Any]:
    """One login shared by the page checks (the portal limits logins per browser)."""
    ctx = english_context(browser)
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


def stored_file(stack: DemoStack, key: str) -> bytes:
    """The bytes the shop keeps in S3 under ``key``: what a download must deliver."""
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every rule axe-core finds broken on the page as it is now, with the nodes at fault."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]],
        }
        for violation in result["violations"]
    ]


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The violations that stop people using a page: impact serious or critical."""
    return [violation for violation in violations if violation["impact"] in SERIOUS]


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
