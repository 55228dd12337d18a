"""Fulfilment as the buyer sees it, in Chromium: the page updates itself, every state reads.

Each state is photographed in both languages under test-output/browser/fulfilment/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import boto3
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal.devstack.demo import BUCKET, DemoStack
from portal.order_refs import sign
from tests.browser.conftest import OUTPUT, axe_violations, english_context, log_in, serious

HANAKO = "hanako@example.jp"
HOUR = 3600


def test_the_file_appears_without_a_reload_and_is_announced(
    page: Page, stack: DemoStack, csp_refusals: list[str]
):
    log_in(page, stack, HANAKO)
    page.goto(f"{stack.portal_url}/buy/restoration")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.wait_for_url(re.compile(re.escape(stack.portal_url) + r"/orders/cs_"))
    expect(page.get_by_text("Your files are being prepared.")).to_be_visible()
    expect(page.get_by_text("This page updates itself when your files are ready.")).to_be_visible()
    # A mark that a reload would wipe out.
    page.evaluate("() => { window.notReloaded = true; }")
    expect(page.get_by_role("link", name="result.txt")).to_be_visible(timeout=20_000)
    assert page.evaluate("() => window.notReloaded === true")
    expect(page.get_by_text("Your files are being prepared.")).to_have_count(0)
    # The thanks from the Payment Link's return stays; the change is announced politely.
    expect(page.get_by_text("Thank you for your order.")).to_be_visible()
    announcer = page.locator('[aria-live="polite"][role="status"]')
    expect(announcer).to_have_text("Your files are ready.")
    (OUTPUT / "fulfilment").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / "fulfilment" / "ready-appeared-en.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="result.txt").click()
    assert download_info.value.failure() is None
    assert csp_refusals == []


# --- each state, in both languages ----------------------------------------------------------


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """As in conftest, but axe-core may be injected past the portal's script-src 'self'."""
    ctx = english_context(browser, bypass_csp=True)
    yield ctx
    ctx.close()


def _order(stack: DemoStack, reference: str, *, hours_ago: float, status: dict | None) -> str:
    """A paid order of Hanako's, ``hours_ago`` old, bought through the demo's link with its
    OrderID signed for her, with the pipeline's status if any."""
    link_id = next(
        link["id"]
        for link in stack.emulator.payment_links.values()
        if link["url"] == stack.payment_link_url
    )
    key = stack.settings.order_id_key
    assert key is not None
    session = stack.emulator.add_order(
        HANAKO,
        created=int(time.time() - hours_ago * HOUR),
        client_reference_id=sign(reference, link_id, HANAKO, key),
        payment_link=link_id,
        items=[("写真レタッチ", 3000, 1)],
    )
    if status is not None:
        s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
        folder = stack.settings.s3_prefix.format(order_id=reference)
        s3.put_object(Bucket=BUCKET, Key=f"{folder}_status.json", Body=json.dumps(status))
    return str(session["id"])


STATES = {
    "preparing": (1, None, {"en": "Your files are being prepared.", "ja": "通常 24 時間以内"}),
    "queued-with-message": (
        1,
        {
            "state": "queued",
            "message": {"ja": "ただいま混み合っています。", "en": "We are busy today."},
        },
        {"en": "We are busy today.", "ja": "ただいま混み合っています。"},
    ),
    "delayed-overdue": (
        30,
        None,
        {"en": "The shop has been notified.", "ja": "ショップに通知済みです。お手続きは不要です。"},
    ),
    "delayed-failed": (
        1,
        {"state": "failed"},
        {"en": "taking longer than usual", "ja": "準備に時間がかかっています。"},
    ),
    "nothing-to-download": (
        2,
        {"state": "done"},
        {
            "en": "This order has no files to download.",
            "ja": "ダウンロードできるファイルはありません",
        },
    ),
}


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("name", list(STATES))
def test_each_state_reads_in_both_languages_without_serious_axe_findings(
    page: Page, stack: DemoStack, hanako_cookies: list, name: str, language: str
):
    hours_ago, status, expected = STATES[name]
    session_id = _order(stack, f"FUL-{name}-{language}".upper(), hours_ago=hours_ago, status=status)
    page.context.add_cookies(hanako_cookies)
    page.context.add_cookies([{"name": "portal_lang", "value": language, "url": stack.portal_url}])
    page.goto(f"{stack.portal_url}/orders/{session_id}")
    expect(page.locator("#fulfilment")).to_contain_text(expected[language])
    folder = OUTPUT / "fulfilment"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"{name}-{language}.png", full_page=True)
    assert serious(axe_violations(page)) == []
