"""The 宛名 and 但し書き a buyer types before downloading a receipt."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from portal.receipts.issue import MAX_ADDRESSEE, MAX_PURPOSE


class ReceiptForm(FlaskForm):
    """Both fields may be blank here; the rules for blanks live in ``issue``.

    Labels are lazy: the form class is built once, and each page shows them in its language.
    """

    addressee = StringField(
        lazy_gettext("Name on the receipt"), validators=[Length(max=MAX_ADDRESSEE)]
    )
    purpose = StringField(lazy_gettext("What it was for"), validators=[Length(max=MAX_PURPOSE)])
