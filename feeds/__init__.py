"""wexbook feeds: adapters between the WEX wire (or its simulator) and the ``orderbook`` core.

``feeds`` depends on ``orderbook``; never the reverse.
"""
