"""Where events go: one module per kind of sink, all behind ``base.Sink``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.watch.config import SinkConfig
    from flows.watch.sinks.base import Sink


def make_sink(config: SinkConfig) -> Sink:
    """The sink a ``[[sinks]]`` entry describes (its secret read from its variable now, so a
    missing one is said before the first cycle)."""
    from flows.watch.config import JsonlSinkConfig, WebhookSinkConfig

    if isinstance(config, JsonlSinkConfig):
        from flows.watch.sinks.jsonl import JsonlSink

        return JsonlSink(config)
    if isinstance(config, WebhookSinkConfig):
        from flows.watch.sinks.webhook import WebhookSink

        return WebhookSink(config)
    from flows.watch.sinks.rabbitmq import RabbitSink

    return RabbitSink(config)
