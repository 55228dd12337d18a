"""The 領収書 as a one-page (or longer) A4 PDF, drawn with reportlab.

The font is a TrueType font embedded (as a subset) in every PDF, so the document reads the
same in every viewer, Japanese included, with nothing installed on the reader's side.
Labels are translated with the page's language (flask-babel), so this runs in a request.
"""

from __future__ import annotations

import io
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import gettext as _
from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from portal.domain import Money
from portal.i18n import money
from portal.receipts.issue import Receipt
from portal.receipts.tax import RateTotal, TaxSource, percent

WIDTH, HEIGHT = A4
MARGIN = 20 * mm
RIGHT = WIDTH - MARGIN
GREY = Color(0.35, 0.35, 0.35)
ACCENT = Color(0.7, 0.1, 0.1)

_fonts: dict[str, str] = {}
_fonts_lock = threading.Lock()


def font_name(path: str) -> str:
    """The reportlab name of the TrueType font at ``path``, registered on first use (it
    takes a quarter of a second to read, then stays for the process)."""
    with _fonts_lock:
        if path not in _fonts:
            name = f"ReceiptFont{len(_fonts)}"
            pdfmetrics.registerFont(TTFont(name, path))
            _fonts[path] = name
        return _fonts[path]


def unprintable(text: str, font_path: str) -> str | None:
    """The first character of ``text`` the font has no glyph for, or ``None``."""
    font = pdfmetrics.getFont(font_name(font_path))
    glyphs = font.face.charToGlyph
    return next((ch for ch in text if not ch.isspace() and ord(ch) not in glyphs), None)


def render(receipt: Receipt, *, font_path: str, language: str, zone: str) -> bytes:
    """The receipt as PDF bytes, in ``language`` with dates in the shop's ``zone``."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{_('Receipt')} {receipt.number}")
    canvas.setAuthor(receipt.issuer.name)
    canvas.setSubject(_("Receipt"))
    _Drawing(canvas, receipt, font_name(font_path), language, ZoneInfo(zone)).draw()
    canvas.save()
    return buffer.getvalue()


class _Drawing:
    """One receipt drawn top to bottom; ``y`` is where the next line goes."""

    def __init__(
        self, canvas: Canvas, receipt: Receipt, font: str, language: str, zone: ZoneInfo
    ) -> None:
        self.c = canvas
        self.r = receipt
        self.font = font
        self.language = language
        self.zone = zone
        self.y = HEIGHT - MARGIN

    # --- the document ------------------------------------------------------------------

    def draw(self) -> None:
        self._heading()
        self._addressee_and_amount()
        self._facts()
        self._items()
        self._tax_totals()
        self._refund()
        self._notes()
        self._issuer()

    def _heading(self) -> None:
        self._text(_("Receipt"), WIDTH / 2, self.y - 8 * mm, size=24, align="center")
        number = _("No. %(number)s", number=self.r.number)
        self._text(number, RIGHT, self.y, size=9, align="right")
        issued = _("Issued %(date)s", date=self._date(self.r.issued_at))
        self._text(issued, RIGHT, self.y - 5 * mm, size=9, align="right")
        if self.r.reissued:
            self._reissue_mark()
        self.y -= 24 * mm

    def _reissue_mark(self) -> None:
        label = _("Reissued")
        width = self._width(label, 12) + 6 * mm
        self.c.setStrokeColor(ACCENT)
        self.c.rect(MARGIN, self.y - 12 * mm, width, 9 * mm)
        self._text(label, MARGIN + 3 * mm, self.y - 9.5 * mm, size=12, color=ACCENT)
        assert self.r.first_issued_at is not None
        first = _("First issued %(date)s", date=self._date(self.r.first_issued_at))
        self._text(first, MARGIN, self.y - 16 * mm, size=8, color=ACCENT)
        self.c.setStrokeColor(black)

    def _addressee_and_amount(self) -> None:
        # 「様」 is Japanese: an English receipt shows the name as typed.
        addressee = self.r.addressed_as if self.language == "ja" else self.r.addressee
        self._text(addressee, MARGIN, self.y, size=16)
        self.c.line(MARGIN, self.y - 2 * mm, WIDTH / 2 + 20 * mm, self.y - 2 * mm)
        self.y -= 16 * mm
        paid = self.r.paid_after_refunds
        amount = f"{self._money(paid)} -"
        box_left, box_width = MARGIN + 15 * mm, WIDTH - 2 * MARGIN - 30 * mm
        self.c.rect(box_left, self.y - 4 * mm, box_width, 13 * mm)
        self._text(amount, WIDTH / 2, self.y, size=20, align="center")
        tax_note = self._amount_tax_note()
        if tax_note:
            self._text(tax_note, box_left + box_width, self.y - 9 * mm, size=8, align="right")
        self.y -= 13 * mm
        self._text(_("For: %(purpose)s", purpose=self.r.purpose), MARGIN + 15 * mm, self.y, size=11)
        self.y -= 6 * mm
        self._text(
            _("We acknowledge receipt of the above amount."), MARGIN + 15 * mm, self.y, size=10
        )
        self.y -= 12 * mm

    def _amount_tax_note(self) -> str:
        tax = self.r.taxes.tax
        if tax is None or self.r.refunded:
            return ""
        return _("(tax included; consumption tax %(tax)s)", tax=self._money(tax))

    def _facts(self) -> None:
        facts = [
            (_("Transaction date"), self._date(self.r.transaction_date)),
            (_("Order number"), self.r.number),
        ]
        for label, value in facts:
            self._text(label, MARGIN, self.y, size=10, color=GREY)
            self._text(value, MARGIN + 35 * mm, self.y, size=10)
            self.y -= 6 * mm
        self.y -= 4 * mm

    def _items(self) -> None:
        self._row(_("Item"), _("Quantity"), _("Amount"), size=9, color=GREY)
        self.c.line(MARGIN, self.y + 4 * mm, RIGHT, self.y + 4 * mm)
        mark = _("*")  # the reduced-rate mark: ※ in Japanese
        for line in self.r.lines:
            name = _("Shipping") if line.shipping else line.description
            name = f"{name} {mark}" if line.reduced else name
            for n, part in enumerate(simpleSplit(name, self.font, 10, 105 * mm)):
                self._page_break_if_needed()
                if n == 0:
                    self._row(part, str(line.quantity), self._money(line.amount), size=10)
                else:
                    self._row(part, "", "", size=10)
        self.c.line(MARGIN, self.y + 4 * mm, RIGHT, self.y + 4 * mm)
        self._row(_("Total"), "", self._money(self.r.total), size=10)
        self.y -= 2 * mm

    def _tax_totals(self) -> None:
        taxes = self.r.taxes
        for rate in taxes.rates:
            self._page_break_if_needed()
            self._text(self._rate_line(rate), MARGIN, self.y, size=9)
            self.y -= 5 * mm
        if any(rate.reduced for rate in taxes.rates):
            self._text(_("* Reduced tax rate item"), MARGIN, self.y, size=8, color=GREY)
            self.y -= 5 * mm
        self.y -= 2 * mm

    def _rate_line(self, rate: RateTotal) -> str:
        money_of = self.r.taxes.money
        if rate.rate == 0:
            return _("Not taxed: %(total)s", total=self._money(money_of(rate.inclusive_total)))
        label = _("%(rate)s%% items", rate=percent(rate.rate))
        if rate.reduced:
            label = _("%(rate)s%% items (reduced rate)", rate=percent(rate.rate))
        return _(
            "%(label)s: %(total)s (excluding tax %(excluded)s, consumption tax %(tax)s)",
            label=label,
            total=self._money(money_of(rate.inclusive_total)),
            excluded=self._money(money_of(rate.exclusive_total)),
            tax=self._money(money_of(rate.tax)),
        )

    def _refund(self) -> None:
        if not self.r.refunded:
            return
        self._row(_("Refunded"), "", f"-{self._money(self.r.refunded)}", size=10)
        self._row(_("Paid after refunds"), "", self._money(self.r.paid_after_refunds), size=10)
        note = _("The tax figures above are those of the purchase before the refund.")
        self._text(note, MARGIN, self.y, size=8, color=GREY)
        self.y -= 8 * mm

    def _notes(self) -> None:
        source = {
            TaxSource.STRIPE: _(
                "Tax figures are those our payment provider calculated for this order,"
                " totalled per rate."
            ),
            TaxSource.SETTINGS: _(
                "Consumption tax is calculated once per rate from the tax-inclusive prices;"
                " fractions are rounded down."
            ),
            TaxSource.NONE: _("This receipt shows no consumption tax breakdown."),
        }[self.r.taxes.source]
        for line in simpleSplit(source, self.font, 8, WIDTH - 2 * MARGIN):
            self._text(line, MARGIN, self.y, size=8, color=GREY)
            self.y -= 4.5 * mm
        if self.r.reissued:
            again = _(
                "This is a reissue of the receipt first issued on %(date)s.",
                date=self._date(self.r.first_issued_at),
            )
            self._text(again, MARGIN, self.y, size=8, color=ACCENT)
            self.y -= 4.5 * mm

    def _issuer(self) -> None:
        issuer = self.r.issuer
        lines = [issuer.name]
        if issuer.address:
            lines.append(issuer.address)
        if issuer.registration_number:
            lines.append(_("Registration number %(number)s", number=issuer.registration_number))
        top = max(MARGIN + 8 * mm * len(lines), min(self.y - 6 * mm, 70 * mm))
        if self.y - 6 * mm < MARGIN + 8 * mm * len(lines):
            self.c.showPage()
            top = HEIGHT - MARGIN
        left = WIDTH / 2 + 10 * mm
        self._text(_("Issued by"), left, top, size=8, color=GREY)
        for n, line in enumerate(lines):
            for part in simpleSplit(line, self.font, 10 if n else 12, RIGHT - left):
                top -= 6 * mm
                self._text(part, left, top, size=12 if n == 0 else 10)

    # --- drawing helpers ---------------------------------------------------------------

    def _row(
        self, item: str, quantity: str, amount: str, *, size: float, color: Color = black
    ) -> None:
        self._text(item, MARGIN, self.y, size=size, color=color)
        self._text(quantity, MARGIN + 130 * mm, self.y, size=size, color=color, align="right")
        self._text(amount, RIGHT, self.y, size=size, color=color, align="right")
        self.y -= 6 * mm

    def _page_break_if_needed(self) -> None:
        if self.y < MARGIN + 20 * mm:
            self.c.showPage()
            self.y = HEIGHT - MARGIN

    def _text(
        self,
        text: str,
        x: float,
        y: float,
        *,
        size: float,
        color: Color = black,
        align: str = "left",
    ) -> None:
        self.c.setFont(self.font, size)
        self.c.setFillColor(color)
        if align == "right":
            self.c.drawRightString(x, y, text)
        elif align == "center":
            self.c.drawCentredString(x, y, text)
        else:
            self.c.drawString(x, y, text)

    def _width(self, text: str, size: float) -> float:
        return pdfmetrics.stringWidth(text, self.font, size)

    def _money(self, amount: Money) -> str:
        return money(amount)

    def _date(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return format_date(moment.astimezone(self.zone), "long", locale=self.language)
