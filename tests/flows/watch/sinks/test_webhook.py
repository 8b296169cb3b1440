"""The webhook sink against a real receiver (vats_fixtures.webhook) over HTTP and HTTPS: the
receiver verifies the sink's signature with the reference library; each answer maps to the
``SinkError`` kind the deliverer acts on."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.watch.config import WebhookSinkConfig
from flows.watch.sinks.base import OutgoingEvent
from flows.watch.sinks.webhook import WebhookSink, retry_after_seconds
from scraper.errors import ConfigError, SinkError
from vats_fixtures.webhook import Reply, WebhookReceiver, new_secret

SIP_PASSWORD = "sip-pass-Q7w9"


def event(n: int = 1) -> OutgoingEvent:
    data = {"specversion": "1.0", "id": f"evt-{n}", "type": "vats.trunk.appeared",
            "source": "vats://main", "subject": f"trunk/{n}", "time": "2025-01-01T00:00:00Z",
            "datacontenttype": "application/json",
            "data": {"trunk": n, "sip_password": SIP_PASSWORD, "name": "Транк"}}
    return OutgoingEvent(id=f"evt-{n}", type="vats.trunk.appeared", source="vats://main",
                         subject=f"trunk/{n}", time="2025-01-01T00:00:00Z",
                         body=json.dumps(data, ensure_ascii=False).encode("utf-8"))


def config(url: str, *, timeout_s: float = 5.0, ca_cert: Path | None = None) -> WebhookSinkConfig:
    return WebhookSinkConfig(name="hook", type="webhook", url=url,
                             secret_env="VATS_TEST_WEBHOOK_SECRET", timeout_s=timeout_s,
                             ca_cert=ca_cert)


@asynccontextmanager
async def opened(sink: WebhookSink) -> AsyncIterator[WebhookSink]:
    await sink.open()
    try:
        yield sink
    finally:
        await sink.close()


async def refusal(sink: WebhookSink, e: OutgoingEvent | None = None) -> SinkError:
    async with opened(sink):
        with pytest.raises(SinkError) as caught:
            await sink.send(e or event())
    return caught.value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_delivered_events_are_signed_and_verified_by_the_receiver() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        sink = WebhookSink(config(receiver.url), secret=secret)
        events = [event(n) for n in range(5)]
        async with opened(sink):
            for e in events:
                assert await sink.send(e) == "delivered"
        assert receiver.ids() == [e.id for e in events]
        first = receiver.received[0]
        assert first.verified and first.status == 200 and first.method == "POST"
        assert first.id == events[0].id
        assert first.body == json.loads(events[0].body)
        assert first.raw == events[0].body
        headers = {k.lower(): v for k, v in first.headers.items()}
        assert headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["webhook-signature"].startswith("v1,")


async def test_the_secret_comes_from_its_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_secret()
    monkeypatch.setenv("VATS_TEST_WEBHOOK_SECRET", secret)
    async with WebhookReceiver(secret) as receiver:
        async with opened(WebhookSink(config(receiver.url))) as sink:
            assert await sink.send(event()) == "delivered"
        assert len(receiver.delivered()) == 1


async def test_a_bare_base64_secret_is_accepted_too() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        sink = WebhookSink(config(receiver.url), secret=secret.removeprefix("whsec_"))
        async with opened(sink):
            assert await sink.send(event()) == "delivered"


async def test_a_wrong_secret_is_refused_by_the_receiver() -> None:
    async with WebhookReceiver(new_secret()) as receiver:
        error = await refusal(WebhookSink(config(receiver.url), secret=new_secret()))
        assert error.kind == "sink-refused"
        assert error.status == 401
        [received] = receiver.received
        assert received.verified is False and received.status == 401
        assert received.id == "evt-1"


async def test_a_500_is_sink_down() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(500)
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert (error.kind, error.status, error.retry_after) == ("sink-down", 500, None)
        # the next attempt (the deliverer's retry) gets the default 200
        async with opened(WebhookSink(config(receiver.url), secret=secret)) as sink:
            assert await sink.send(event()) == "delivered"
        assert receiver.ids() == ["evt-1"]
        assert [r.status for r in receiver.received] == [500, 200]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_in_seconds(status: int) -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(Reply(status, retry_after=7))
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert (error.kind, error.status, error.retry_after) == ("sink-down", status, 7)


async def test_retry_after_as_an_http_date() -> None:
    secret = new_secret()
    when = datetime.now(UTC) + timedelta(seconds=30)
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(Reply(503, retry_after=email.utils.format_datetime(when, usegmt=True)))
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert error.kind == "sink-down"
        assert error.retry_after is not None and 25 <= error.retry_after <= 30


async def test_a_huge_retry_after_is_clamped_to_an_hour() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(Reply(429, retry_after=10**9))
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert error.retry_after == 3600


def test_retry_after_values() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds(" 120 ", now) == 120
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:07 GMT", now) == 7
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0  # in the past
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:07 -0000", now) == 7
    assert retry_after_seconds("99999", now) == 3600
    for unreadable in (None, "", "soon", "-5", "inf", "nan", "1e3"):
        assert retry_after_seconds(unreadable, now) is None


async def test_410_is_sink_gone() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(410)
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert (error.kind, error.status) == ("sink-gone", 410)


async def test_another_4xx_is_sink_refused_with_its_retry_after() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(Reply(400, retry_after=12), 422)
        sink = WebhookSink(config(receiver.url), secret=secret)
        error = await refusal(sink)
        assert (error.kind, error.status, error.retry_after) == ("sink-refused", 400, 12)
        error = await refusal(sink)
        assert (error.kind, error.status, error.retry_after) == ("sink-refused", 422, None)


async def test_a_redirect_is_not_followed() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(302)
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert (error.kind, error.status) == ("sink-refused", 302)
        assert len(receiver.received) == 1


async def test_a_hanging_receiver_is_sink_down_after_the_timeout() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        receiver.answer(Reply(200, delay=60))
        started = time.monotonic()
        error = await refusal(WebhookSink(config(receiver.url, timeout_s=0.5), secret=secret))
        elapsed = time.monotonic() - started
        assert error.kind == "sink-down"
        assert "0.5 s" in str(error)
        assert 0.4 <= elapsed < 5


async def test_no_receiver_is_sink_down() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    error = await refusal(WebhookSink(config(url), secret=new_secret()))
    assert error.kind == "sink-down"
    assert "cannot connect" in str(error)


async def test_https_with_a_self_signed_certificate_needs_ca_cert() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret, tls=True) as receiver:
        assert receiver.url.startswith("https://") and receiver.cert_path is not None
        error = await refusal(WebhookSink(config(receiver.url), secret=secret))
        assert error.kind == "sink-down"
        assert "not trusted" in str(error)
        assert receiver.received == []
        trusting = WebhookSink(config(receiver.url, ca_cert=receiver.cert_path), secret=secret)
        async with opened(trusting):
            assert await trusting.send(event()) == "delivered"
        assert receiver.ids() == ["evt-1"]


async def test_the_sink_reopens_after_close() -> None:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        sink = WebhookSink(config(receiver.url), secret=secret)
        async with opened(sink):
            await sink.send(event(1))
        async with opened(sink):
            await sink.send(event(2))
        assert await sink.send(event(3)) == "delivered"  # send opens a closed sink
        await sink.close()
        assert receiver.ids() == ["evt-1", "evt-2", "evt-3"]


@pytest.mark.parametrize("bad", ["", "whsec_", "not base64!", "whsec_abc-def_ghi", "whsec_a"])
def test_an_invalid_secret_is_a_config_error_naming_the_sink(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookSink(config("http://127.0.0.1:9/hook"), secret=bad)
    assert "sink hook" in str(caught.value)
    if len(bad.removeprefix("whsec_")) > 3:
        assert bad.removeprefix("whsec_") not in str(caught.value)


def test_a_missing_secret_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VATS_TEST_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="VATS_TEST_WEBHOOK_SECRET"):
        WebhookSink(config("http://127.0.0.1:9/hook"))


def test_a_missing_ca_cert_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_cert"):
        WebhookSink(config("https://127.0.0.1:9/hook", ca_cert=tmp_path / "none.pem"),
                    secret=new_secret())
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match="ca_cert"):
        WebhookSink(config("https://127.0.0.1:9/hook", ca_cert=junk), secret=new_secret())


async def test_neither_secret_nor_body_is_logged_or_in_errors(
        caplog: pytest.LogCaptureFixture) -> None:
    secret = new_secret()
    key = secret.removeprefix("whsec_")
    caplog.set_level(logging.DEBUG)
    errors: list[SinkError] = []
    async with WebhookReceiver(secret) as receiver:
        url = receiver.url.replace("http://", "http://user:url-pass@") + "?token=url-token"
        receiver.answer(200, 500, Reply(429, retry_after=3), 400, 410, Reply(200, delay=5))
        sink = WebhookSink(config(url, timeout_s=0.3), secret=secret)
        async with opened(sink):
            for n in range(6):
                try:
                    await sink.send(event(n))
                except SinkError as exc:
                    errors.append(exc)
        wrong = WebhookSink(config(receiver.url), secret=new_secret())
        errors.append(await refusal(wrong))
    assert [e.kind for e in errors] == ["sink-down", "sink-down", "sink-refused", "sink-gone",
                                        "sink-down", "sink-refused"]
    records = [r for r in caplog.records if r.name.startswith("flows.watch.sinks")]
    assert any(r.getMessage() == "event delivered" and getattr(r, "event_id", None) == "evt-0"
               for r in records)
    assert any(getattr(r, "kind", None) == "sink-gone" and getattr(r, "sink", None) == "hook"
               for r in records)
    shown = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    shown += "".join(str(e) for e in errors)
    for forbidden in (secret, key, SIP_PASSWORD, "url-pass", "url-token"):
        assert forbidden not in shown
