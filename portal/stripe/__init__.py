"""Stripe, the portal's order database: the only package that imports the ``stripe`` SDK.

``client`` holds the one ``StripeClient`` and turns Stripe's errors into the portal's;
``queries`` asks Stripe for sessions, links and customers; ``mapping`` turns a session's
JSON into an :class:`~portal.domain.Order`; ``events`` verifies webhooks.
"""
