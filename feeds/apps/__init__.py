"""The command-line applications of wexbook (the ``wexbook`` console script).

- :mod:`feeds.apps.cli`: the ``wexbook`` parser and its table of subcommands.
- :mod:`feeds.apps.demo`: ``wexbook demo`` (live books against the embedded simulator);
  :mod:`feeds.apps.offline`: ``wexbook demo --offline`` (generated streams, no sockets).
- :mod:`feeds.apps.watch`: ``wexbook watch`` (live books from WEX or compatible endpoints).
- :mod:`feeds.apps.dashboard`: the live table of ``demo`` and ``watch``.
- :mod:`feeds.apps.sim`: ``wexbook sim`` and ``wexbook sim-fault`` (the embedded simulator).

The library itself (``orderbook``, ``feeds.manager``, ``feeds.rest``, ``feeds.sim``...) never
imports from here.
"""
