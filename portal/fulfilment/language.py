"""The portal's catalogs outside a request: alerts and mails in the shop's language."""

from __future__ import annotations

from functools import cache

from babel.support import NullTranslations, Translations

from portal.i18n import TRANSLATIONS, ensure_compiled


@cache
def catalog(locale: str) -> NullTranslations:
    """The messages of ``locale`` (``ja`` or ``en``), compiled first if the install skipped
    it: commands run without the app, which compiles them at start-up."""
    ensure_compiled()
    return Translations.load(str(TRANSLATIONS), [locale])
