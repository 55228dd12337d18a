"""Stripe objects as the pinned API version (``2026-10-28.endive``) sends them.

Every builder deep-copies a template (``portal/devstack/stripe_objects.json``: Stripe's
own example objects from its OpenAPI fixtures, brought to the pinned version: removed
fields taken out, fields the version always sends added) and overrides the fields it
knows. Example values that would mislead a reader of the portal (a shipping cost of 1.5
billion, a cancellation in 2009) are reset to what a fresh object of that kind carries.
``tests/devstack/test_emulator_contract.py`` checks every object sent, nested hashes
included, against the shapes of Stripe's generated SDKs for that version.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from functools import cache
from pathlib import Path
from typing import Any

Json = dict[str, Any]

#: The templates: Stripe's examples, shaped by the pinned version (see the module docstring).
EXAMPLES = Path(__file__).resolve().parent.parent / "stripe_objects.json"
#: The API version stripe 16 pins: the shape of every object here.
API_VERSION = "2026-10-28.endive"
ONE_DAY = 86_400

_ALPHABET = string.ascii_letters + string.digits
_KONBINI_CHAINS = ("familymart", "lawson", "ministop", "seicomart")
#: Where the emulator's bank (and its account holder) are, for bank transfer instructions.
_EMULATOR_ADDRESS = {
    "city": "Chiyoda-ku",
    "country": "JP",
    "line1": "1-1 Marunouchi",
    "line2": None,
    "postal_code": "100-0005",
    "state": "Tokyo",
}


@cache
def _examples() -> dict[str, Json]:
    loaded: dict[str, Json] = json.loads(EXAMPLES.read_text())
    return loaded


def template(name: str) -> Json:
    """A fresh copy of Stripe's example ``name`` object (``"checkout.session"``, …)."""
    return copy.deepcopy(_examples()[name])


def new_id(prefix: str, length: int = 24) -> str:
    """An id shaped like Stripe's: ``prefix`` and ``length`` letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def list_object(data: list[Json], url: str, *, has_more: bool = False) -> Json:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


# --- catalogue ---------------------------------------------------------------------------


def product(name: str, created: int) -> Json:
    """A product as ``product_data`` or ``POST /v1/products`` makes it."""
    obj = template("product")
    obj.update(
        id=new_id("prod_", 14),
        name=name,
        created=created,
        updated=created,
        default_price=None,
        description=None,
        images=[],
        livemode=False,
        marketing_features=[],
        metadata={},
        package_dimensions=None,
        shippable=None,
        statement_descriptor=None,
        tax_code=None,
        type="service",
        unit_label=None,
        url=None,
    )
    return obj


def price(product_id: str, unit_amount: int, currency: str, created: int) -> Json:
    """A one-time, per-unit price."""
    obj = template("price")
    obj.update(
        id=new_id("price_"),
        active=True,
        billing_scheme="per_unit",
        created=created,
        currency=currency,
        custom_unit_amount=None,
        livemode=False,
        lookup_key=None,
        metadata={},
        nickname=None,
        product=product_id,
        recurring=None,
        tax_behavior="unspecified",
        tiers_mode=None,
        transform_quantity=None,
        type="one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )
    return obj


def line_item(price_obj: Json, description: str, quantity: int) -> Json:
    """A Checkout line item (``item``): ``quantity`` of ``price_obj``, named ``description``."""
    amount = int(price_obj["unit_amount"]) * quantity
    obj = template("item")
    obj.update(
        id=new_id("li_"),
        adjustable_quantity=None,
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=price_obj["currency"],
        description=description,
        metadata={},
        price=copy.deepcopy(price_obj),
        quantity=quantity,
    )
    return obj


# --- checkout ----------------------------------------------------------------------------


def checkout_session(created: int, items: list[Json]) -> Json:
    """An ``open`` payment-mode session for ``items``; the caller fills in the rest."""
    total = sum(int(item["amount_total"]) for item in items)
    obj = template("checkout.session")
    obj.update(
        id=new_id("cs_test_", 58),
        after_expiration=None,
        allow_promotion_codes=None,
        allowed_payment_method_types=None,
        amount_subtotal=total,
        amount_total=total,
        automatic_tax={"enabled": False, "liability": None, "status": None, "provider": None},
        billing_address_collection=None,
        cancel_url=None,
        client_reference_id=None,
        client_secret=None,
        collected_information=None,
        consent=None,
        consent_collection=None,
        created=created,
        currency=items[0]["currency"] if items else None,
        currency_conversion=None,
        custom_fields=[],
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer=None,
        customer_account=None,
        customer_creation="if_required",
        customer_details=None,
        customer_email=None,
        discounts=[],
        expires_at=created + ONE_DAY,
        integration_identifier=None,
        invoice=None,
        invoice_creation=None,
        livemode=False,
        locale=None,
        managed_payments=None,
        metadata={},
        mode="payment",
        origin_context=None,
        payment_intent=None,
        payment_link=None,
        payment_method_collection="if_required",
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=["card"],
        payment_status="unpaid",
        permissions=None,
        phone_number_collection={"enabled": False},
        recovered_from=None,
        saved_payment_method_options=None,
        setup_intent=None,
        shipping_address_collection=None,
        shipping_cost=None,
        shipping_options=[],
        status="open",
        submit_type=None,
        subscription=None,
        success_url=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode="hosted_page",
        url=None,
        adaptive_pricing=None,
        wallet_options=None,
    )
    return obj


def customer_details(email: str, name: str | None = None) -> Json:
    """``customer_details`` as a completed (or expired) session carries them."""
    details = template("checkout.session")["customer_details"]
    details.update(
        email=email,
        name=name,
        phone=None,
        tax_exempt="none",
        tax_ids=[],
        business_name=None,
        individual_name=None,
    )
    return details


def payment_intent(
    amount: int, currency: str, method: str, created: int, customer: str | None
) -> Json:
    """A payment intent waiting for its payment (``requires_payment_method``)."""
    intent_id = new_id("pi_")
    obj = template("payment_intent")
    obj.update(
        id=intent_id,
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        application=None,
        application_fee_amount=None,
        allowed_payment_method_types=None,
        automatic_payment_methods=None,
        canceled_at=None,
        cancellation_reason=None,
        capture_method="automatic",
        client_secret=f"{intent_id}_secret_{new_id('', 25)}",
        confirmation_method="automatic",
        created=created,
        currency=currency,
        customer=customer,
        customer_account=None,
        description=None,
        excluded_payment_method_types=None,
        last_payment_error=None,
        latest_charge=None,
        livemode=False,
        managed_payments=None,
        metadata={},
        next_action=None,
        on_behalf_of=None,
        payment_method=None,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=[method],
        payment_record=None,
        processing=None,
        receipt_email=None,
        review=None,
        setup_future_usage=None,
        shipping=None,
        source=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status="requires_payment_method",
        transfer_data=None,
        transfer_group=None,
    )
    return obj


def konbini_action(intent: Json, public_url: str) -> Json:
    """``next_action`` of a konbini payment: a voucher valid for three days."""
    code = "".join(secrets.choice(string.digits) for _ in range(12))
    return {
        "type": "konbini_display_details",
        "konbini_display_details": {
            "expires_at": intent["created"] + 3 * ONE_DAY,
            "hosted_voucher_url": f"{public_url}/vouchers/{intent['id']}",
            "stores": {
                chain: {"confirmation_number": code[:6], "payment_code": code}
                for chain in _KONBINI_CHAINS
            },
        },
    }


def bank_transfer_action(intent: Json, public_url: str) -> Json:
    """``next_action`` of a bank transfer (``customer_balance``) waiting for the money."""
    return {
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "amount_remaining": intent["amount"],
            "currency": intent["currency"],
            "financial_addresses": [
                {
                    "type": "zengin",
                    "supported_networks": ["zengin"],
                    "zengin": {
                        "account_holder_address": _EMULATOR_ADDRESS,
                        "account_holder_name": "STRIPE EMULATOR",
                        "account_number": "1234567",
                        "account_type": "futsu",
                        "bank_address": _EMULATOR_ADDRESS,
                        "bank_code": "0001",
                        "bank_name": "Emulator Bank",
                        "branch_code": "001",
                        "branch_name": "Main",
                    },
                }
            ],
            "hosted_instructions_url": f"{public_url}/vouchers/{intent['id']}",
            "reference": new_id("", 8).upper(),
            "type": "jp_bank_transfer",
        },
    }


def charge(intent: Json, email: str | None, created: int, public_url: str) -> Json:
    """The successful charge of ``intent``, paid with its (single) payment method type."""
    charge_id = new_id("ch_")
    method = intent["payment_method_types"][0]
    obj = template("charge")
    obj.update(
        id=charge_id,
        amount=intent["amount"],
        amount_captured=intent["amount"],
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=None,
        balance_transaction=new_id("txn_"),
        calculated_statement_descriptor="STRIPE EMULATOR",
        captured=True,
        created=created,
        currency=intent["currency"],
        customer=intent["customer"],
        description=None,
        disputed=False,
        failure_balance_transaction=None,
        failure_code=None,
        failure_message=None,
        fraud_details={},
        livemode=False,
        metadata={},
        on_behalf_of=None,
        outcome=_approved(obj["outcome"]),
        paid=True,
        payment_intent=intent["id"],
        payment_method=new_id("pm_"),
        payment_method_details=_method_details(method, obj["payment_method_details"]),
        receipt_email=email,
        receipt_number=None,
        receipt_url=f"{public_url}/receipts/{charge_id}",
        refunded=False,
        review=None,
        shipping=None,
        source=None,
        source_transfer=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status="succeeded",
        transfer_data=None,
        transfer_group=None,
    )
    obj["billing_details"].update(email=email, name=None)
    # Includable since 2022-11-15: present only when ``refunds`` is expanded.
    del obj["refunds"]
    return obj


def _approved(outcome: Json) -> Json:
    outcome.update(
        network_status="approved_by_network",
        seller_message="Payment complete.",
        type="authorized",
    )
    return outcome


def _method_details(method: str, example: Json) -> Json:
    if method == "card":
        card = example["card"]
        card.update(amount_authorized=None, wallet=None)
        return {"type": "card", "card": card}
    if method == "konbini":
        return {"type": "konbini", "konbini": {"store": {"chain": "lawson"}}}
    return {"type": method, method: {}}


def refund(charge_obj: Json, amount: int, created: int) -> Json:
    """A succeeded refund of ``amount`` of ``charge_obj``."""
    obj = template("refund")
    obj.update(
        id=new_id("re_"),
        amount=amount,
        balance_transaction=new_id("txn_"),
        charge=charge_obj["id"],
        created=created,
        currency=charge_obj["currency"],
        customer=charge_obj["customer"],
        metadata={},
        payment_intent=charge_obj["payment_intent"],
        status="succeeded",
    )
    # Sent only for some payment methods' refunds (never as null).
    del obj["destination_details"]
    return obj


#: A dispute's statuses while the card issuer has not decided, and once it has.
OPEN_DISPUTE_STATUSES = ("warning_needs_response", "needs_response", "under_review")
CLOSED_DISPUTE_STATUSES = ("won", "lost")


def dispute(charge_obj: Json, created: int, status: str, reason: str) -> Json:
    """A chargeback of the whole of ``charge_obj``, its evidence due in a week."""
    obj = template("dispute")
    card: Json = dict(obj["payment_method_details"]["card"])
    card.update(brand="visa", case_type="chargeback", network_reason_code="10.4")
    obj.update(
        id=new_id("dp_"),
        amount=charge_obj["amount"],
        balance_transactions=[],
        charge=charge_obj["id"],
        created=created,
        currency=charge_obj["currency"],
        enhanced_eligibility_types=[],
        is_charge_refundable=False,
        livemode=False,
        metadata={},
        payment_intent=charge_obj["payment_intent"],
        payment_method_details={"type": "card", "card": card},
        reason=reason,
        status=status,
    )
    obj["evidence_details"].update(due_by=created + 7 * ONE_DAY, enhanced_eligibility={})
    return obj


def invoice(
    session: Json, created: int, public_url: str, *, subscription: str | None = None
) -> Json:
    """The invoice Checkout makes: for a session with invoice creation on, or the first
    invoice of the ``subscription`` a subscription-mode session starts."""
    invoice_id = new_id("in_")
    total = session["amount_total"]
    paid = session["payment_status"] == "paid"
    details = session["customer_details"] or {}
    obj = template("invoice")
    obj.update(
        id=invoice_id,
        account_country="JP",
        amount_due=total,
        amount_overpaid=0,
        amount_paid=total if paid else 0,
        amount_remaining=0 if paid else total,
        attempt_count=1 if paid else 0,
        attempted=paid,
        automatic_tax={
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        billing_reason="subscription_create" if subscription else "manual",
        created=created,
        currency=session["currency"],
        customer=session["customer"],
        customer_email=details.get("email"),
        customer_name=details.get("name"),
        customer_shipping=None,
        due_date=None,
        effective_at=created,
        from_invoice=None,
        hosted_invoice_url=f"{public_url}/invoices/{invoice_id}",
        invoice_pdf=f"{public_url}/invoices/{invoice_id}/pdf",
        issuer={"type": "self"},
        last_finalization_error=None,
        lines=list_object([], f"/v1/invoices/{invoice_id}/lines"),
        livemode=False,
        metadata={},
        next_payment_attempt=None,
        number=new_id("", 8).upper() + "-0001",
        parent=_subscription_parent(subscription) if subscription else None,
        period_end=created,
        period_start=created,
        shipping_cost=None,
        shipping_details=None,
        status="paid" if paid else "open",
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        webhooks_delivered_at=created,
    )
    obj["status_transitions"].update(finalized_at=created, paid_at=created if paid else None)
    return obj


def _subscription_parent(subscription: str) -> Json:
    return {
        "type": "subscription_details",
        "quote_details": None,
        # ``subscription_proration_date`` only when the invoice prorates (never null).
        "subscription_details": {"metadata": {}, "subscription": subscription},
    }


def invoice_payment(invoice_obj: Json, intent: Json, created: int) -> Json:
    """The default payment of ``invoice_obj``, made by ``intent`` (paid when it is)."""
    paid = intent["status"] == "succeeded"
    obj = template("invoice_payment")
    obj.update(
        id=new_id("inpay_"),
        amount_paid=intent["amount"] if paid else None,
        amount_requested=intent["amount"],
        created=created,
        currency=intent["currency"],
        invoice=invoice_obj["id"],
        is_default=True,
        livemode=False,
        payment={"type": "payment_intent", "payment_intent": intent["id"]},
        status="paid" if paid else "open",
        status_transitions={"canceled_at": None, "paid_at": created if paid else None},
    )
    return obj


# --- customers, links, billing portal, events ----------------------------------------------


def customer(email: str, name: str | None, created: int) -> Json:
    """A customer with nothing on file but an email and a name."""
    obj = template("customer")
    obj.update(
        id=new_id("cus_", 14),
        address=None,
        balance=0,
        created=created,
        currency=None,
        default_source=None,
        delinquent=False,
        description=None,
        discount=None,
        email=email,
        invoice_prefix=new_id("", 8).upper(),
        livemode=False,
        metadata={},
        name=name,
        next_invoice_sequence=1,
        phone=None,
        preferred_locales=[],
        shipping=None,
        tax_exempt="none",
        test_clock=None,
    )
    return obj


def payment_link(currency: str, public_url: str) -> Json:
    """An active Payment Link showing a hosted confirmation when paid."""
    link_id = new_id("plink_")
    obj = template("payment_link")
    obj.update(
        id=link_id,
        active=True,
        after_completion={"type": "hosted_confirmation", "hosted_confirmation": {}},
        allow_promotion_codes=False,
        application=None,
        application_fee_amount=None,
        application_fee_percent=None,
        automatic_tax={"enabled": False, "liability": None},
        billing_address_collection="auto",
        consent_collection=None,
        currency=currency,
        custom_fields=[],
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer_creation="if_required",
        inactive_message=None,
        invoice_creation=None,
        livemode=False,
        managed_payments=None,
        metadata={},
        on_behalf_of=None,
        payment_intent_data=None,
        payment_method_collection="always",
        payment_method_options=None,
        payment_method_types=None,
        phone_number_collection={"enabled": False},
        restrictions=None,
        shipping_address_collection=None,
        shipping_options=[],
        submit_type="auto",
        subscription_data=None,
        tax_id_collection={"enabled": False, "required": "never"},
        transfer_data=None,
        url=f"{public_url}/pay/{link_id}",
    )
    obj["after_completion"]["hosted_confirmation"] = {"custom_message": None}
    return obj


def portal_session(customer_id: str, return_url: str | None, created: int, public_url: str) -> Json:
    """A billing portal session whose ``url`` is the emulator's billing page."""
    portal_id = new_id("bps_")
    obj = template("billing_portal.session")
    obj.update(
        id=portal_id,
        configuration=new_id("bpc_"),
        created=created,
        customer=customer_id,
        customer_account=None,
        flow=None,
        livemode=False,
        locale=None,
        on_behalf_of=None,
        return_url=return_url,
        url=f"{public_url}/billing/{portal_id}",
    )
    return obj


def portal_configuration() -> Json:
    """The account's default customer portal configuration (its settings, saved)."""
    return {
        "id": "bpc_emulator_default",
        "object": "billing_portal.configuration",
        "active": True,
        "is_default": True,
        "livemode": False,
        "metadata": {},
    }


def event(kind: str, data_object: Json, created: int, pending_webhooks: int) -> Json:
    """An event of type ``kind`` about ``data_object`` (which the caller has copied)."""
    obj = template("event")
    obj.update(
        id=new_id("evt_"),
        api_version=API_VERSION,
        created=created,
        data={"object": data_object},
        livemode=False,
        pending_webhooks=pending_webhooks,
        request={"id": None, "idempotency_key": None},
        type=kind,
    )
    return obj
