"""The example that ships with fdag: card-payment feature modules, sample data, and ``fdag demo``.

- ``fdag.demo.payment``: request-time features of a card payment (no history needed).
- ``fdag.demo.fraud``: fraud features over a stream of transactions (time windows).
- ``fdag.demo.samples``: reproducible payments and transaction histories to run them on.
- ``fdag.demo.run``: what ``fdag demo`` (and ``python -m fdag demo``) runs.

They are written against the public API, as your own feature modules would be::

    import fdag
    from fdag.demo import fraud

    dag = fdag.Dag.from_modules(fraud)
"""
