"""Events to RabbitMQ: a durable topic exchange, one persistent message per event, confirmed.

Why publisher confirms and ``mandatory``: ``"delivered"`` must mean the broker has the event
(it acks only once the message is in every queue it routes to, on disk for durable queues),
and an event no queue is bound for must come back to us as ``"returned"``, not vanish. The
routing key is the event's type, so consumers bind to what they want (``vats.trunk.#``).

Why a plain (not robust) connection: reconnecting, backoff and replay are the deliverer's job.
After any failure the connection is dropped and ``send`` raises ``SinkError`` (sink-down); the
deliverer calls ``open`` again later. The broker URL carries a password: only its host and
port are ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, PublishError
from aiormq.exceptions import (
    AuthenticationError,
    ChannelAccessRefused,
    ChannelPreconditionFailed,
    ProbableAuthenticationError,
)
from yarl import URL

from flows.watch.config import RabbitSinkConfig
from flows.watch.sinks.base import OutgoingEvent, Sent, Sink
from scraper.errors import SinkError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/cloudevents+json"
CONNECT_TIMEOUT = 10.0
CONFIRM_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0

#: what a broken or unreachable broker raises (ChannelInvalidStateError: a closed channel)
_BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, OSError, TimeoutError)
#: the broker answers but will not have us (credentials, permissions, an exchange or queue
#: declared otherwise before): retried too, but the fix is on the broker's side
_REFUSALS = (AuthenticationError, ProbableAuthenticationError, ChannelAccessRefused,
             ChannelPreconditionFailed)


class RabbitSink(Sink):
    """Publishes each event to ``config.exchange`` with its type as the routing key."""

    def __init__(self, config: RabbitSinkConfig, url: str | None = None, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 confirm_timeout: float = CONFIRM_TIMEOUT) -> None:
        super().__init__(config.name, include_secrets=config.include_secrets)
        self.config = config
        self._url = url if url is not None else config.url()
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def where(self) -> str:
        """``host:port`` of the broker: the URL without its credentials, for logs and errors."""
        url = URL(self._url)
        return f"{url.host}:{url.port or (5671 if url.scheme == 'amqps' else 5672)}"

    async def open(self) -> None:
        """Connect, and declare the exchange (and the queue) so the first send can route."""
        await self.close()
        try:  # the client's own timeout first (it cleans up), ours for the declarations
            async with asyncio.timeout(self.connect_timeout + 2):
                # not aio_pika.connect: a connection it failed to open is dropped unclosed, and
                # its __del__ then schedules a close() nobody awaits; ours is closed below
                self._connection = aio_pika.Connection(URL(self._url))
                await self._connection.connect(timeout=self.connect_timeout)
                channel = await self._connection.channel(publisher_confirms=True,
                                                         on_return_raises=True)
                self._exchange = await self._declare(channel)
        except _BROKER_ERRORS as exc:
            await self.close()
            raise self._error("cannot open", exc) from None
        log.info("rabbitmq sink open", extra=self._fields())

    async def _declare(self, channel: AbstractChannel) -> AbstractExchange:
        exchange = await channel.declare_exchange(self.config.exchange, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        if self.config.queue is not None:
            queue = await channel.declare_queue(self.config.queue, durable=True)
            await queue.bind(exchange, routing_key="#")
        return exchange

    async def send(self, event: OutgoingEvent) -> Sent:
        """Publish and wait for the broker's confirm; ``"returned"`` when nothing is bound."""
        if self._exchange is None:
            raise SinkError("not connected (open() failed or was not called)", sink=self.name)
        try:
            async with asyncio.timeout(self.confirm_timeout):
                await self._exchange.publish(_message(event), routing_key=event.type,
                                             mandatory=True, timeout=self.confirm_timeout)
        except PublishError:
            log.warning("rabbitmq returned an event: no queue is bound for its type",
                        extra={**self._fields(), "event_id": event.id, "event_type": event.type})
            return "returned"
        except ValueError as exc:  # a routing key over 255 bytes: this event can never go
            raise SinkError(str(exc), sink=self.name, kind="sink-refused") from None
        except _BROKER_ERRORS as exc:  # a nack (DeliveryError) too
            await self.close()
            raise self._error(f"event {event.id} not confirmed", exc) from None
        return "delivered"

    async def close(self) -> None:
        """Drop the connection; a broken one may fail to close, which is no news."""
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is None or connection.is_closed:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await connection.close()

    def _error(self, what: str, exc: BaseException) -> SinkError:
        kind = "sink-refused" if isinstance(exc, _REFUSALS) else "sink-down"
        reason = _describe(exc)
        password = URL(self._url).password
        if password:  # no client library should echo it, but a log line is forever
            reason = reason.replace(password, "******")
        log.warning("rabbitmq sink failed: %s", what,
                    extra={**self._fields(), "error": reason, "kind": kind})
        return SinkError(f"{what} at {self.where}: {reason}", sink=self.name, kind=kind)

    def _fields(self) -> dict[str, Any]:
        return {"sink": self.name, "broker": self.where, "exchange": self.config.exchange,
                "queue": self.config.queue}


def _message(event: OutgoingEvent) -> aio_pika.Message:
    """The event in CloudEvents' structured mode: the body is the whole event; the ``ce_*``
    headers repeat its attributes for consumers that route or filter without parsing it."""
    headers: dict[str, Any] = {"ce_id": event.id, "ce_type": event.type, "ce_source": event.source,
                               "ce_time": event.time}
    if event.subject is not None:
        headers["ce_subject"] = event.subject
    return aio_pika.Message(
        body=event.body, content_type=CONTENT_TYPE, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event.id, type=event.type, timestamp=_timestamp(event.time), app_id="vats",
        headers=headers)


def _timestamp(time: str) -> datetime | None:
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(time)
    return None


def _describe(exc: BaseException) -> str:
    """A short reason; a timeout has no message of its own, a closed channel only its repr."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ChannelInvalidStateError):
        return "the broker closed the connection"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
