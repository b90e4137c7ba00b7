"""Books beyond one machine: exact book streams through a broker.

A :class:`~feeds.broker.publisher.BookPublisher` (an observer of a
:class:`~feeds.manager.BookManager`) writes every book's snapshots, deltas and status to
Redis Streams (``redis://``) or NATS JetStream (``nats://``); a
:class:`~feeds.broker.subscriber.BookSubscriber` (or its threaded twin) in any other
process rebuilds the exact books and serves the same :class:`~orderbook.BookView` and
:class:`~orderbook.BookNotLive` family as the engine. The stream schema is in
:mod:`feeds.broker.schema`; each backend is one module (:mod:`.redisstreams`,
:mod:`.jetstream`; which one a URL names: :mod:`.backends`). It needs the ``broker`` extra:
``pip install 'wexbook[broker]'``.

Modules, in the order the data flows: ``schema``, ``backends`` (which backend a URL
names), ``redisstreams`` and ``jetstream``, ``publisher``, ``subscriber``, and ``record``
(:class:`~feeds.broker.record.SubscriberRecorder`: a subscriber's stream recorded in the
capture format).
"""

from .backends import BrokerUnavailable, backend_kind
from .publisher import BookPublisher
from .subscriber import BookSubscriber, ThreadedBookSubscriber

__all__ = [
    "BookPublisher",
    "BookSubscriber",
    "BrokerUnavailable",
    "ThreadedBookSubscriber",
    "backend_kind",
]
