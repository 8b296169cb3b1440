"""What every sink is to the deliverer: open, send one event, close.

Why so small: retries, backoff, ordering, the outbox and the secrets policy are the deliverer's
(flows/watch/deliver.py), decided once for every sink. A sink only moves bytes and says how it
went: ``send`` returns ``"delivered"`` (the receiver has it: webhook 2xx, broker confirm, line
flushed) or ``"returned"`` (the broker took it and returned it: no queue is bound for its
routing key; final, not retried), or raises ``SinkError`` (``kind`` sink-down / sink-refused:
retried; sink-gone: the sink is disabled; ``retry_after`` when the receiver said when).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

Sent = Literal["delivered", "returned"]


@dataclass(frozen=True)
class OutgoingEvent:
    """One CloudEvent as this sink gets it: ``body`` is its JSON (structured mode, UTF-8), with
    SIP passwords already in or out according to the sink's ``include_secrets``."""

    id: str
    type: str
    source: str
    subject: str | None
    time: str
    body: bytes


class Sink(ABC):
    """A destination of events. ``open`` may be called again after a failure (reconnect)."""

    def __init__(self, name: str, *, include_secrets: bool = False) -> None:
        self.name = name
        self.include_secrets = include_secrets

    async def open(self) -> None:  # noqa: B027 - most sinks need nothing
        """Connect; raise ``SinkError`` (sink-down) when the sink cannot be reached."""

    @abstractmethod
    async def send(self, event: OutgoingEvent) -> Sent:
        """Deliver one event, or raise ``SinkError``."""

    async def close(self) -> None:  # noqa: B027
        """Release connections and files; never raises."""
