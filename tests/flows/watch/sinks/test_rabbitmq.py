"""The RabbitMQ sink against a real broker (the session's ``rabbitmq`` fixture, a private node).

Every test uses exchanges and queues of its own (a random suffix), so they share the broker and
still never see each other's messages.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest

from flows.watch.config import RabbitSinkConfig
from flows.watch.sinks.base import OutgoingEvent
from flows.watch.sinks.rabbitmq import CONTENT_TYPE, RabbitSink
from scraper.errors import SinkError
from vats_fixtures import rabbitmq as broker_module
from vats_fixtures.rabbitmq import BrokerError, BrokerNotInstalled, RabbitBroker, rabbitmq_broker

# the tests run in the session's loop, where their async fixtures (sink_factory) live
pytestmark = pytest.mark.asyncio(loop_scope="session")


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def config(exchange: str, queue: str | None = None, **more) -> RabbitSinkConfig:
    return RabbitSinkConfig(name="bus", type="rabbitmq", url_env="VATS_TEST_AMQP_URL",
                            exchange=exchange, queue=queue, **more)


def event(type_: str = "vats.trunk.changed", subject: str | None = "trunk/74951234567"
          ) -> OutgoingEvent:
    event_id = str(uuid.uuid4())
    body = json.dumps({"specversion": "1.0", "id": event_id, "type": type_,
                       "source": "vats://main", "subject": subject,
                       "time": "2025-01-02T03:04:05Z", "data": {"имя": "Транк"}},
                      ensure_ascii=False).encode()
    return OutgoingEvent(id=event_id, type=type_, source="vats://main", subject=subject,
                         time="2025-01-02T03:04:05Z", body=body)


@pytest.fixture
async def sink_factory(rabbitmq: RabbitBroker):
    """Sinks on the session's broker, closed after the test."""
    made: list[RabbitSink] = []

    def make(exchange: str, queue: str | None = None, **options) -> RabbitSink:
        sink = RabbitSink(config(exchange, queue), url=rabbitmq.url, **options)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        await sink.close()


# --- the fixture -----------------------------------------------------------------------------------


async def test_the_broker_is_private_and_answers(rabbitmq: RabbitBroker):
    assert rabbitmq.is_up()
    assert rabbitmq.url == f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/"
    assert rabbitmq.node.startswith("vats-test-") and rabbitmq.node.endswith("@localhost")
    assert rabbitmq.env["ERL_EPMD_PORT"] != "4369"  # never the machine's epmd
    assert rabbitmq.env["HOME"] == str(rabbitmq.workdir)
    assert (rabbitmq.workdir / "rabbitmq.conf").read_text().startswith(
        f"listeners.tcp.default = 127.0.0.1:{rabbitmq.port}\n")
    assert rabbitmq.exchanges()["amq.topic"]["type"] == "topic"


async def test_the_fixture_catches_messages(rabbitmq: RabbitBroker):
    exchange, queue = unique("fixture"), unique("q")
    await rabbitmq.bind_queue(queue, exchange, "a.*")
    connection = await aio_pika.connect(rabbitmq.url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(b"one"), routing_key="a.b")
        await target.publish(aio_pika.Message(b"two"), routing_key="b.c")  # not bound
    assert [m.body for m in await rabbitmq.messages(queue)] == [b"one"]
    assert await rabbitmq.messages(queue) == []  # taken


async def test_without_rabbitmq_server_the_fixture_fails_naming_the_setup(
        monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setattr(broker_module, "DEBIAN_SCRIPTS", tmp_path / "nowhere")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrokerNotInstalled, match="scripts/setup"), rabbitmq_broker(tmp_path):
        pass


async def test_a_broker_that_does_not_start_in_time_is_stopped_and_its_log_shown(tmp_path):
    import psutil

    workdir = tmp_path / "slow"
    with pytest.raises(BrokerError) as raised, rabbitmq_broker(workdir, timeout=1):
        pass
    assert "gave up waiting for the broker to start after 1 s" in str(raised.value)
    assert "--- server.out" in str(raised.value)  # the log's tail
    left = [p for p in psutil.process_iter(["cmdline", "cwd", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE  # ended, not yet reaped by init
            and (p.info["cwd"] == str(workdir) or str(workdir) in " ".join(p.info["cmdline"] or ()))]
    assert not left


# --- publishing ------------------------------------------------------------------------------------


async def test_an_event_arrives_as_a_persistent_cloudevent(rabbitmq: RabbitBroker, sink_factory):
    exchange, queue = unique("events"), unique("q")
    await rabbitmq.bind_queue(queue, exchange, "vats.#")
    sink = sink_factory(exchange)
    await sink.open()
    sent = event()

    assert await sink.send(sent) == "delivered"

    [got] = await rabbitmq.messages(queue)
    assert got.body == sent.body  # byte for byte
    assert got.message_id == sent.id
    assert got.routing_key == "vats.trunk.changed"
    assert got.exchange == exchange
    assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert got.content_type == CONTENT_TYPE == "application/cloudevents+json"
    assert got.type == sent.type
    assert got.app_id == "vats"
    assert got.timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert got.headers["ce_id"] == sent.id
    assert got.headers["ce_source"] == "vats://main"
    assert got.headers["ce_subject"] == "trunk/74951234567"


async def test_the_exchange_is_a_durable_topic_exchange(rabbitmq: RabbitBroker, sink_factory):
    exchange = unique("events")
    await sink_factory(exchange).open()

    declared = rabbitmq.exchanges()[exchange]
    assert (declared["type"], declared["durable"], declared["auto_delete"]) == ("topic", True, False)


async def test_a_configured_queue_is_durable_and_gets_every_type(rabbitmq: RabbitBroker,
                                                                 sink_factory):
    exchange, queue = unique("events"), unique("vats-events")
    sink = sink_factory(exchange, queue)
    await sink.open()
    events = [event("vats.trunk.changed"), event("vats.device.created", subject=None),
              event("other")]

    assert [await sink.send(e) for e in events] == ["delivered"] * 3

    assert rabbitmq.queues()[queue]["durable"] is True
    assert {"source_name": exchange, "destination_name": queue, "routing_key": "#"} in [
        {k: b[k] for k in ("source_name", "destination_name", "routing_key")}
        for b in rabbitmq.bindings()]
    got = await rabbitmq.messages(queue)
    assert [(m.routing_key, m.message_id) for m in got] == [(e.type, e.id) for e in events]
    assert "ce_subject" not in got[1].headers


async def test_an_event_no_queue_is_bound_for_is_returned(rabbitmq: RabbitBroker, sink_factory):
    exchange, queue = unique("events"), unique("q")
    sink = sink_factory(exchange)
    await sink.open()

    assert await sink.send(event()) == "returned"

    # the channel stays usable: once a queue is bound, the next event is delivered
    await rabbitmq.bind_queue(queue, exchange)
    second = event()
    assert await sink.send(second) == "delivered"
    assert [m.message_id for m in await rabbitmq.messages(queue)] == [second.id]


# --- failures ------------------------------------------------------------------------------------


async def test_a_broker_down_is_sink_down_fast_and_open_recovers(rabbitmq: RabbitBroker,
                                                                 sink_factory):
    exchange, queue = unique("events"), unique("q")
    sink = sink_factory(exchange, queue)
    await sink.open()
    assert await sink.send(event()) == "delivered"

    await asyncio.to_thread(rabbitmq.stop_app)
    try:
        started = time.monotonic()
        with pytest.raises(SinkError) as sending:
            await sink.send(event())
        with pytest.raises(SinkError) as opening:
            await sink.open()
        with pytest.raises(SinkError) as still:  # open() failed: not connected
            await sink.send(event())
        assert time.monotonic() - started < 5
    finally:
        await asyncio.to_thread(rabbitmq.start_app)

    for raised in (sending, opening, still):
        assert raised.value.kind == "sink-down"
        assert raised.value.sink == "bus"
    assert f"127.0.0.1:{rabbitmq.port}" in str(opening.value)
    await sink.open()
    last = event()
    assert await sink.send(last) == "delivered"
    # the durable queue kept the first event across the restart of the application
    assert [m.message_id for m in await rabbitmq.messages(queue)][-1] == last.id
    await sink.close()
    await sink.close()  # twice is fine


async def test_a_nack_is_sink_down(rabbitmq: RabbitBroker, sink_factory):
    """A full queue that rejects publishes (overflow reject-publish): the broker nacks."""
    exchange, queue = unique("events"), unique("full")
    connection = await aio_pika.connect(rabbitmq.url)
    async with connection:
        channel = await connection.channel()
        target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        full = await channel.declare_queue(queue, arguments={"x-max-length": 1,
                                                             "x-overflow": "reject-publish"})
        await full.bind(target, "#")
    sink = sink_factory(exchange)
    await sink.open()
    assert await sink.send(event()) == "delivered"

    with pytest.raises(SinkError) as raised:
        await sink.send(event())
    assert raised.value.kind == "sink-down"
    await sink.open()  # the deliverer reopens before it retries
    await rabbitmq.messages(queue)  # room again
    assert await sink.send(event()) == "delivered"


async def test_a_blocked_broker_times_out(rabbitmq: RabbitBroker, sink_factory):
    """A broker under a memory alarm blocks publishers: no confirm ever comes, the send gives
    up after ``confirm_timeout`` instead of hanging the deliverer."""
    sink = sink_factory(unique("events"), unique("q"), confirm_timeout=1)
    await sink.open()
    await asyncio.to_thread(rabbitmq.rabbitmqctl, "set_vm_memory_high_watermark", "0")
    try:
        started = time.monotonic()
        with pytest.raises(SinkError) as raised:
            await sink.send(event())
        # 1 s for the confirm, then up to 2 s for the broker's Close-Ok (aiormq's bound): the
        # blocked broker no longer reads the socket, so the dropped connection closes slowly
        assert time.monotonic() - started < 5
    finally:
        await asyncio.to_thread(rabbitmq.rabbitmqctl, "set_vm_memory_high_watermark", "0.4")
    assert raised.value.kind == "sink-down"
    assert "no answer in time" in str(raised.value)
    await sink.open()
    assert await sink.send(event()) == "delivered"


async def test_nothing_listening_is_sink_down_at_once(sink_factory):
    with socket_bound() as port:
        sink = RabbitSink(config("events"), url=f"amqp://guest:secret@127.0.0.1:{port}/")
        started = time.monotonic()
        with pytest.raises(SinkError) as raised:
            await sink.open()
    assert raised.value.kind == "sink-down"
    assert time.monotonic() - started < 2


async def test_a_silent_server_times_out_instead_of_hanging():
    """A peer that accepts TCP and never speaks AMQP (a wrong port, a stuck broker)."""
    silent = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        sink = RabbitSink(config("events"), url=f"amqp://guest:guest@127.0.0.1:{port}/",
                          connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(SinkError) as raised:
            await sink.open()
        assert time.monotonic() - started < 3
    finally:
        silent.close()
    assert raised.value.kind == "sink-down"
    assert "no answer in time" in str(raised.value)


async def test_a_wrong_password_is_refused_and_never_shown(rabbitmq: RabbitBroker,
                                                           caplog: pytest.LogCaptureFixture):
    url = f"amqp://guest:Wr0ngPassw0rd@127.0.0.1:{rabbitmq.port}/"
    sink = RabbitSink(config(unique("events")), url=url)
    caplog.set_level(logging.DEBUG, logger="flows.watch.sinks.rabbitmq")
    with pytest.raises(SinkError) as raised:
        await sink.open()
    assert raised.value.kind == "sink-refused"
    assert "Wr0ngPassw0rd" not in str(raised.value)
    ours = [r for r in caplog.records if r.name == "flows.watch.sinks.rabbitmq"]
    assert ours and all("Wr0ngPassw0rd" not in repr(vars(r)) for r in ours)
    assert ours[-1].broker == f"127.0.0.1:{rabbitmq.port}"


async def test_a_connection_that_failed_to_open_is_closed_not_left_to_the_collector(
        rabbitmq: RabbitBroker, monkeypatch: pytest.MonkeyPatch):
    """aio_pika.connect drops a connection it could not open without closing it; its __del__
    then schedules a close() that, with no loop running by then, is never awaited (a
    RuntimeWarning in CI). Every connection the sink made must be closed before it is freed."""
    gc.collect()  # what earlier tests left is freed before the spy watches
    freed_closed: list[bool] = []
    original = aio_pika.Connection.__del__

    def spy(self: aio_pika.Connection) -> None:
        freed_closed.append(self.is_closed)
        original(self)

    monkeypatch.setattr(aio_pika.Connection, "__del__", spy)
    url = f"amqp://guest:Wr0ngPassw0rd@127.0.0.1:{rabbitmq.port}/"
    sink = RabbitSink(config(unique("events")), url=url)
    with pytest.raises(SinkError):
        await sink.open()
    del sink
    gc.collect()
    assert freed_closed and all(freed_closed), freed_closed


async def test_an_exchange_of_another_type_is_refused(rabbitmq: RabbitBroker, sink_factory):
    exchange = unique("events")
    connection = await aio_pika.connect(rabbitmq.url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
    with pytest.raises(SinkError) as raised:
        await sink_factory(exchange).open()
    assert raised.value.kind == "sink-refused"
    assert "PRECONDITION_FAILED" in str(raised.value)


async def test_send_before_open_is_sink_down():
    sink = RabbitSink(config("events"), url="amqp://guest:guest@127.0.0.1:1/")
    with pytest.raises(SinkError) as raised:
        await sink.send(event())
    assert raised.value.kind == "sink-down"
    await sink.close()  # never opened: nothing to do


async def test_the_url_comes_from_the_variable_named_by_url_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VATS_TEST_AMQP_URL", "amqp://u:p@broker.example:5673/vhost")
    sink = RabbitSink(config("events", include_secrets=True))
    assert sink.where == "broker.example:5673"
    assert RabbitSink(config("events"), url="amqp://u:p@broker.example/").where == \
        "broker.example:5672"
    assert (sink.name, sink.include_secrets) == ("bus", True)


class socket_bound:  # noqa: N801 - used as a context manager
    """A loopback port that is bound but not listening: connections to it are refused."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()
