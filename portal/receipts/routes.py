"""The documents section of an order page, and the 領収書 download."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import audit
from portal.domain import N_, Order, ReceiptIssue
from portal.errors import error_page
from portal.i18n import page_language
from portal.receipts import pdf
from portal.receipts.forms import ReceiptForm
from portal.receipts.issue import (
    UESAMA,
    ReceiptInputError,
    ReceiptRefused,
    Words,
    refusal,
)
from portal.receipts.service import ReceiptRequest, ReceiptService
from portal.receipts.tax import TaxSummary, order_taxes, percent

bp = Blueprint("receipts", __name__)


def _service() -> ReceiptService | None:
    service: ReceiptService | None = current_app.extensions.get("portal.receipts")
    return service


@dataclass(frozen=True)
class DocumentsSection:
    """What the order page's documents section shows about the 領収書."""

    #: The shop issues receipts at all.
    enabled: bool
    #: Why this order gets none (translated), else ``None``.
    refused: str | None
    #: The first issue, when Stripe remembers one.
    issued: ReceiptIssue | None
    form: ReceiptForm | None = None
    uesama: str | None = None
    default_purpose: str | None = None
    #: The issuer's name, and whether its registration number makes this a qualified invoice.
    issuer: str = ""
    qualified: bool = False
    #: False once Stripe refused to keep the first issue (the key may not write it).
    remembered: bool = True


@bp.app_template_global()
def receipt_section(order: Order) -> DocumentsSection:
    """The 領収書 part of the documents section of ``order``'s page."""
    service = _service()
    if service is None:
        return DocumentsSection(False, None, None)
    reason = refusal(order)
    config = service.config
    return DocumentsSection(
        enabled=True,
        refused=_(reason) if reason else None,
        issued=order.receipt_issue,
        form=ReceiptForm() if not reason and order.receipt_issue is None else None,
        uesama=UESAMA if config.allow_uesama else None,
        default_purpose=config.default_purpose,
        issuer=config.issuer.name,
        qualified=config.issuer.registration_number is not None,
        remembered=service.remembers,
    )


@bp.app_template_filter("tax_percent")
def tax_percent(rate: Decimal) -> str:
    """``10`` for a 10 % rate (no trailing zeros)."""
    return percent(rate)


@bp.app_template_global()
def tax_summary(order: Order) -> TaxSummary:
    """The order's consumption tax, from the same figures as its receipt."""
    return order_taxes(order, current_app.extensions["portal.tax_rates"])


@bp.post("/orders/<session_id>/receipt")
@login_required
def download(session_id: str) -> Response:
    """Issue (or re-issue) the order's 領収書 as a PDF download."""
    service = _service()
    detail = url_for("orders.detail", session_id=session_id, _anchor="documents")
    if service is None:
        return error_page(404, _("Not found"), _("This shop does not issue receipts here."))
    form = ReceiptForm()
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "warning")
        return redirect(detail, code=303)
    typed = ReceiptRequest(form.addressee.data or "", form.purpose.data or "")
    language = page_language()
    try:
        _check_printable(typed)
        receipt = service.issue(current_user.email, session_id, typed, _words(language))
    except ReceiptInputError as exc:
        values = {k: _(v) if isinstance(v, str) else v for k, v in exc.values.items()}
        flash(_(exc.message, **values), "warning")
        return redirect(detail, code=303)
    except ReceiptRefused as exc:
        return error_page(409, _("No receipt for this order"), _(exc.reason))
    body = pdf.render(
        receipt,
        font_path=current_app.extensions["portal.settings"].receipt_font,
        language=language,
        zone=str(getattr(get_timezone(), "key", get_timezone())),
    )
    audit.record(
        "receipt",
        who=audit.mask_email(current_user.email),
        order=session_id,
        reissue=receipt.reissued,
    )
    return _pdf_attachment(body, _receipt_filename(receipt.number))


def _check_printable(typed: ReceiptRequest) -> None:
    font = current_app.extensions["portal.settings"].receipt_font
    for text in (typed.addressee, typed.purpose):
        missing = pdf.unprintable(text, font)
        if missing:
            raise ReceiptInputError(
                N_(
                    "The character %(char)s cannot be printed on the receipt; please write it"
                    " another way."
                ),
                char=missing,
            )


def _words(language: str) -> Words:
    if language == "ja":
        return Words("ja", lambda goods: f"{goods}代として", lambda first, n: f"{first} ほか{n}点")
    return Words(language, lambda goods: goods, lambda first, n: f"{first} and {n} more")


def _receipt_filename(number: str) -> str:
    return _("receipt-%(number)s.pdf", number=number)


def _pdf_attachment(body: bytes, filename: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    # A receipt carries the buyer's name: never kept by a shared cache or the browser's.
    response.headers["Cache-Control"] = "no-store"
    return response
