"""``expand[]``: which fields of which objects expand, checked before any object is read.

Paths are validated against the object kinds (not against the values), so an invalid
path is a 400 even where the field happens to be ``null``, as at Stripe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portal.devstack.stripe_emulator.objects import Json
from portal.devstack.stripe_emulator.wire import Params, StripeError

#: Stripe expands at most four levels (``data.payment_intent.latest_charge.refunds``).
MAX_DEPTH = 4

#: For each object kind, its expandable fields and the kind each expands to. A kind
#: ``list:X`` is a list object of ``X``; its one expandable field is ``data``. Includable
#: fields (``line_items``, ``charge.refunds``, ``invoice.payments``) are here too: the
#: stored objects leave them out, and only an expansion adds them.
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {
        "customer": "customer",
        "invoice": "invoice",
        "line_items": "list:item",
        "payment_intent": "payment_intent",
        "payment_link": "payment_link",
        "shipping_cost": "hash:shipping_cost",
    },
    # ``taxes`` is includable (sent only when asked for); the emulator charges no shipping.
    "hash:shipping_cost": {"taxes": "line_item.tax"},
    "payment_intent": {"customer": "customer", "latest_charge": "charge"},
    "charge": {
        "customer": "customer",
        "payment_intent": "payment_intent",
        "refunds": "list:refund",
    },
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    # ``taxes`` is includable (sent only when asked for), not an id that expands.
    "item": {"price": "hash:price", "taxes": "line_item.tax"},
    # A line item's price is always there (not an id): walked through to its product.
    "hash:price": {"product": "product"},
    "price": {"product": "product"},
    "payment_link": {"line_items": "list:item"},
    "invoice": {"customer": "customer", "payments": "list:invoice_payment"},
    "invoice_payment": {"invoice": "invoice", "payment": "hash:invoice_payment.payment"},
    # A nested hash (``hash:…``) is walked through, never expanded itself:
    # ``data.payment.payment_intent`` expands, ``data.payment`` is a 400.
    "hash:invoice_payment.payment": {"payment_intent": "payment_intent", "charge": "charge"},
    "customer": {},
    "billing_portal.session": {},
    "product": {},
}

#: ``field → (kind it expands to, what to expand inside it)``.
Tree = dict[str, tuple[str, "Tree"]]
#: ``resolve(kind, field, obj)``: the expanded value of ``obj[field]``.
Resolver = Callable[[str, str, Json], Any]


def requested(params: Params, root: str) -> Tree:
    """Take ``expand`` from ``params`` and check each path from the ``root`` kind."""
    tree: Tree = {}
    for path in params.strings("expand") or []:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise StripeError(
                400,
                f"You cannot expand more than {MAX_DEPTH} levels of a property ({path}).",
                param="expand",
            )
        _add(tree, root, parts, path)
    return tree


def _add(tree: Tree, kind: str, parts: list[str], path: str) -> None:
    node = tree
    for part in parts:
        target = fields_of(kind).get(part)
        if target is None:
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        node = node.setdefault(part, (target, {}))[1]
        kind = target
    if kind.startswith("hash:"):
        raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")


def kinds_in(tree: Tree) -> list[str]:
    """Every object kind an expansion reaches, in the order asked for (a restricted key
    needs to read each)."""
    found: list[str] = []
    for target, inner in tree.values():
        found += [kind for kind in [target, *kinds_in(inner)] if kind not in found]
    return found


def fields_of(kind: str) -> dict[str, str]:
    """The expandable fields of ``kind``."""
    if kind.startswith("list:"):
        return {"data": kind.removeprefix("list:")}
    return EXPANDABLE.get(kind, {})


def expand(obj: Json, kind: str, tree: Tree, resolve: Resolver) -> Json:
    """``obj`` with the fields in ``tree`` expanded (a shallow copy; ``obj`` is untouched)."""
    if not tree:
        return obj
    expanded = dict(obj)
    for field, (target, inner) in tree.items():
        if kind.startswith("list:"):
            expanded["data"] = [expand(item, target, inner, resolve) for item in obj["data"]]
            continue
        value = resolve(kind, field, obj)
        expanded[field] = (
            expand(value, target, inner, resolve) if isinstance(value, dict) else value
        )
    return expanded
