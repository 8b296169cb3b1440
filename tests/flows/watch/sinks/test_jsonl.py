"""The JSONL sink on real files, a real pipe and /dev/full: lines whole, in order, private."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from flows.watch.config import JsonlSinkConfig
from flows.watch.sinks.base import OutgoingEvent
from flows.watch.sinks.jsonl import JsonlSink
from scraper.errors import SinkError


def event(n: int, *, password: str = "sip-secret-1", pretty: bool = False) -> OutgoingEvent:
    data = {"specversion": "1.0", "id": f"evt-{n}", "type": "vats.trunk.appeared",
            "source": "vats://main", "subject": f"trunk/{n}", "time": "2025-01-01T00:00:00Z",
            "datacontenttype": "application/json",
            "data": {"trunk": n, "password": password, "note": "Транк ☎ " + "x" * (n % 50)}}
    body = json.dumps(data, ensure_ascii=False, indent=2 if pretty else None,
                      separators=None if pretty else (",", ":")).encode("utf-8")
    return OutgoingEvent(id=f"evt-{n}", type="vats.trunk.appeared", source="vats://main",
                         subject=f"trunk/{n}", time="2025-01-01T00:00:00Z", body=body)


def config(path: str | Path, *, include_secrets: bool = False) -> JsonlSinkConfig:
    return JsonlSinkConfig(name="log", type="jsonl", path=str(path),
                           include_secrets=include_secrets)


async def send_all(sink: JsonlSink, events: list[OutgoingEvent]) -> None:
    await sink.open()
    try:
        for e in events:
            assert await sink.send(e) == "delivered"
    finally:
        await sink.close()


def lines_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


async def test_lines_are_whole_in_order_and_equal_to_the_bodies(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events = [event(n) for n in range(300)]
    await send_all(JsonlSink(config(path)), events)
    lines = lines_of(path)
    assert len(lines) == len(events)
    for line, e in zip(lines, events, strict=True):
        assert line == e.body  # the body itself, no trailing space
        assert json.loads(line) == json.loads(e.body)


async def test_the_file_is_created_0600_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    await send_all(JsonlSink(config(path)), [event(1)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await send_all(JsonlSink(config(path)), [event(2)])  # a restart: appends, never truncates
    assert [json.loads(line)["id"] for line in lines_of(path)] == ["evt-1", "evt-2"]


async def test_concurrent_sends_keep_call_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(config(path))
    await sink.open()
    try:
        await asyncio.gather(*(sink.send(event(n)) for n in range(200)))
    finally:
        await sink.close()
    assert [json.loads(line)["id"] for line in lines_of(path)] == [f"evt-{n}" for n in range(200)]


async def test_a_pretty_printed_body_is_still_one_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    pretty = event(7, pretty=True)
    assert b"\n" in pretty.body
    await send_all(JsonlSink(config(path)), [pretty, event(8)])
    lines = lines_of(path)
    assert len(lines) == 2
    assert json.loads(lines[0]) == json.loads(pretty.body)


async def test_a_body_that_is_not_json_is_refused(tmp_path: Path) -> None:
    bad = OutgoingEvent(id="x", type="vats.trunk.appeared", source="s", subject=None,
                        time="t", body=b"not json\nat all")
    sink = JsonlSink(config(tmp_path / "events.jsonl"))
    await sink.open()
    try:
        with pytest.raises(SinkError) as caught:
            await sink.send(bad)
    finally:
        await sink.close()
    assert caught.value.kind == "sink-refused"
    assert (tmp_path / "events.jsonl").read_bytes() == b""


async def test_stdout_mode_writes_to_the_given_stream() -> None:
    stream = io.StringIO()
    sink = JsonlSink(config("-"), stdout=stream)
    await send_all(sink, [event(1), event(2)])
    lines = stream.getvalue().split("\n")
    assert lines[-1] == ""
    assert [json.loads(line)["id"] for line in lines[:-1]] == ["evt-1", "evt-2"]


async def test_stdout_mode_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    await send_all(JsonlSink(config("-")), [event(3)])
    out = capsys.readouterr().out
    assert json.loads(out)["id"] == "evt-3"
    assert out.endswith("}\n")


async def test_a_missing_folder_is_sink_down_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "events.jsonl"
    sink = JsonlSink(config(path))
    with pytest.raises(SinkError) as caught:
        await sink.open()
    assert caught.value.kind == "sink-down"
    assert caught.value.sink == "log"
    assert str(path) in str(caught.value)
    # the deliverer's retry: open again once the folder exists
    path.parent.mkdir()
    await send_all(sink, [event(1)])
    assert len(lines_of(path)) == 1


async def test_a_full_disk_is_sink_down() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    sink = JsonlSink(config("/dev/full"))
    await sink.open()
    try:
        with pytest.raises(SinkError) as caught:
            await sink.send(event(1))
    finally:
        await sink.close()
    assert caught.value.kind == "sink-down"
    assert "disk is full" in str(caught.value)
    assert "/dev/full" in str(caught.value)


async def test_a_closed_pipe_on_stdout_is_sink_gone() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", encoding="utf-8") as stream:
        sink = JsonlSink(config("-"), stdout=stream)
        await sink.open()
        try:
            with pytest.raises(SinkError) as caught:
                await sink.send(event(1))
        finally:
            await sink.close()
        try:
            stream.close()
        except BrokenPipeError:
            pass  # the line still buffered cannot be flushed either
    assert caught.value.kind == "sink-gone"


async def test_a_rotated_file_is_followed_by_a_new_one_at_the_path(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(config(path))
    await sink.open()
    try:
        await sink.send(event(1))
        path.rename(tmp_path / "events.jsonl.1")  # what logrotate does
        await sink.send(event(2))
    finally:
        await sink.close()
    assert [json.loads(line)["id"] for line in lines_of(tmp_path / "events.jsonl.1")] == ["evt-1"]
    assert [json.loads(line)["id"] for line in lines_of(path)] == ["evt-2"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_open_file_readable_by_others_is_warned_about_for_secrets(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    path.touch(mode=0o644)
    path.chmod(0o644)
    caplog.set_level(logging.DEBUG, logger="flows.watch.sinks.jsonl")
    await send_all(JsonlSink(config(path, include_secrets=True)), [event(1, password="pw-XYZ")])
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
    assert "pw-XYZ" not in caplog.text
    assert all("pw-XYZ" not in repr(r.__dict__) for r in caplog.records)
