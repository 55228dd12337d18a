"""Stripe, the portal's order database: the only package that imports the ``stripe`` SDK.

``client`` holds the one ``StripeClient`` and ``call``, through which every request goes;
``errors`` turns Stripe's errors into the portal's (and one log line each); ``queries``
asks Stripe for sessions, links and customers; ``parallel`` runs independent calls side
by side; ``mapping`` turns a session's JSON into an :class:`~portal.domain.Order`;
``events`` verifies webhooks.
"""
