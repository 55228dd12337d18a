"""Fulfilment the buyer and the shop can see.

The shop's own pipeline (a webhook, then processing) writes an order's files to S3 and,
optionally, a small status object beside them (``status.py``). From those the portal tells
the buyer how far their order is (``progress.py``, ``routes.py``), and ``portal watch``
tells the shop's staff what went wrong, once (``watch.py``, ``alerts.py``).
"""
