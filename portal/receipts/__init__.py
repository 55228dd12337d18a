"""The 領収書: a receipt a Japanese buyer can submit, made from Stripe's data when asked.

``tax`` (rates, where the tax figures come from, rounding once per rate), ``issue`` (what
goes on a receipt and the rules for issuing and re-issuing it), ``pdf`` (the document),
``forms`` and ``routes`` (the order page's documents section and the download).
"""
