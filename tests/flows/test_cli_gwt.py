"""``vats gwt decode|encode`` as a user runs them: a real subprocess, files and stdin."""

import json
import subprocess
import sys

import pytest

from fixtures.recorded.captures import ALL, fill
from tests.paths import VECTORS, require_shared

VATS = [sys.executable, "-m", "flows.cli"]


def run(*args, stdin=b""):
    return subprocess.run([*VATS, *args], input=stdin, capture_output=True, timeout=60)


@pytest.mark.parametrize("name", sorted(ALL))
def test_decode_encode_round_trip_of_captures(name):
    payload = fill(ALL[name]).encode()
    decoded = run("gwt", "decode", stdin=payload)
    assert decoded.returncode == 0, decoded.stderr
    form = json.loads(decoded.stdout)
    assert form["kind"] == "request"
    encoded = run("gwt", "encode", "-", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout == payload


@pytest.mark.skipif(not require_shared(), reason="../shared missing")
def test_vector_with_schema_and_returns():
    out = run("gwt", "decode", "--schema", str(VECTORS / "schema.json"), "--returns", "int",
              str(VECTORS / "v05a_int_return.response.txt"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["value"] == -2147483648


@pytest.mark.skipif(not require_shared(), reason="../shared missing")
def test_response_encode():
    src = VECTORS / "v20_mts_updateForm_placeholder.response.txt"
    decoded = run("gwt", "decode", str(src))
    assert decoded.returncode == 0
    encoded = run("gwt", "encode", stdin=decoded.stdout)
    assert encoded.stdout == src.read_bytes()


@pytest.mark.parametrize("stdin", [b"garbage", b"//OK[1,2", b"7|0|1|x|"])
def test_undecodable_input_exits_2_with_message(stdin):
    out = run("gwt", "decode", stdin=stdin)
    assert out.returncode == 2
    assert out.stdout == b""
    assert b"vats gwt:" in out.stderr


def test_unknown_class_without_schema_exits_2():
    out = run("gwt", "decode", stdin=b'//OK[1,["com.acme.Thing/1"],0,7]')
    assert out.returncode == 2 and b"com.acme.Thing" in out.stderr


def test_encode_bad_json_exits_2():
    out = run("gwt", "encode", stdin=b'{"kind": "request"')
    assert out.returncode == 2
