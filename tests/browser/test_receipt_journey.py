"""A buyer gets a 領収書 in real Chromium: open an order, type a 宛名, download, and again."""

from __future__ import annotations

import re
import subprocess

import pypdf
from playwright.sync_api import Page, expect

from portal.devstack.demo import DemoStack
from tests.browser.conftest import OUTPUT, log_in

RECEIPTS = OUTPUT / "receipts"


def _download_receipt(page: Page, button: str, name: str) -> str:
    """Click ``button``, keep the PDF and its first page as PNG; return the PDF's text."""
    with page.expect_download() as download_info:
        page.get_by_role("button", name=button).click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(".pdf")
    RECEIPTS.mkdir(parents=True, exist_ok=True)
    pdf = RECEIPTS / f"{name}.pdf"
    download.save_as(pdf)
    subprocess.run(
        ["/usr/bin/pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(RECEIPTS / name)],
        check=True,
        timeout=30,
    )
    assert (RECEIPTS / f"{name}.png").stat().st_size > 10_000
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages)


def test_a_buyer_types_an_addressee_and_downloads_the_receipt_then_a_reissue(
    page: Page, stack: DemoStack, csp_refusals: list[str]
):
    log_in(page, stack)
    page.get_by_role("link", name=re.compile(r"(Order number|注文番号) JP-1002$")).click()
    documents = page.get_by_role("region", name="Documents")
    expect(documents).to_contain_text("This is the document to submit for expense claims.")
    expect(page.get_by_text("(tax included)")).to_be_visible()

    page.get_by_label("Name on the receipt").fill("株式会社テスト")
    RECEIPTS.mkdir(parents=True, exist_ok=True)
    documents.screenshot(path=RECEIPTS / "documents-section-en.png")
    text = _download_receipt(page, "Download the receipt (PDF)", "receipt-en")
    assert "株式会社テスト" in text and "Receipt" in text and "JP-1002" in text
    assert "Reissued" not in text

    # The page now knows the receipt was issued; the next download says 再発行 in Japanese.
    page.get_by_role("link", name="日本語").click()
    expect(page.get_by_role("region", name="書類")).to_contain_text("株式会社テスト")
    page.get_by_role("region", name="書類").screenshot(path=RECEIPTS / "documents-section-ja.png")
    text = _download_receipt(page, "領収書を再発行してダウンロード（PDF）", "receipt-ja-reissue")
    assert "再発行" in text and "株式会社テスト 様" in text and "領収書" in text
    assert csp_refusals == []
