"""Money as Stripe sends it: an integer in the currency's minor units, formatted at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Stripe's zero-decimal and three-decimal currencies
# (https://docs.stripe.com/currencies#zero-decimal): an amount is in these units.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())
_SYMBOLS = {"jpy": "¥", "usd": "$", "eur": "€", "gbp": "£", "cny": "CN¥", "krw": "₩"}


@dataclass(frozen=True)
class Money:
    """An amount in the currency's minor units, as Stripe sends it."""

    amount: int
    currency: str

    @property
    def decimals(self) -> int:
        """How many digits Stripe's integer amount has after the decimal point."""
        code = self.currency.lower()
        if code in ZERO_DECIMAL_CURRENCIES:
            return 0
        if code in THREE_DECIMAL_CURRENCIES:
            return 3
        return 2

    @property
    def value(self) -> Decimal:
        """The amount in major units, exactly: ``Decimal("19.99")`` for 1999 USD."""
        return Decimal(self.amount).scaleb(-self.decimals)

    def format(self) -> str:
        """``¥5,000`` for 5000 JPY, ``$19.99`` for 1999 USD, ``CHF 12.00`` otherwise."""
        sign = "-" if self.amount < 0 else ""
        units = abs(self.amount) / 10**self.decimals
        number = f"{units:,.{self.decimals}f}"
        symbol = _SYMBOLS.get(self.currency.lower())
        if symbol:
            return f"{sign}{symbol}{number}"
        return f"{sign}{self.currency.upper()} {number}"

    def __str__(self) -> str:
        return self.format()
