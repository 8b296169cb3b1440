"""``vats gwt decode|encode`` as a user runs them: a real subprocess, files and stdin."""

import json
import subprocess
import sys

import pytest

from tests.paths import VECTORS
from vats_fixtures.recorded.captures import ALL, fill

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


def test_json_output_ends_with_a_newline_in_a_pipe_too():
    """A JSON document is a text file; only the wire payload of ``encode`` has no newline."""
    payload = fill(ALL[sorted(ALL)[0]]).encode()
    decoded = run("gwt", "decode", stdin=payload)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.endswith(b"}\n")
    encoded = run("gwt", "encode", stdin=decoded.stdout)
    assert encoded.stdout == payload  # exact bytes, no newline added in a pipe


def test_a_large_output_arrives_whole_through_a_pipe(tmp_path):
    """``vats`` ends with ``os._exit`` (flows/cli/__init__.py): what it printed must be flushed
    first — here 600 KB through a pipe, the last block of it included."""
    value = "я" * 300_000 + "end"
    source = tmp_path / "big.txt"
    source.write_text(f'//OK[1,["{value}"],0,7]', encoding="utf-8")
    out = run("gwt", "decode", "--returns", "java.lang.String", str(source))
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith(b"}\n")
    assert json.loads(out.stdout)["value"] == value


def test_vector_with_schema_and_returns():
    out = run("gwt", "decode", "--schema", str(VECTORS / "schema.json"), "--returns", "int",
              str(VECTORS / "v05a_int_return.response.txt"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["value"] == -2147483648


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
    assert b"add its layout with --schema FILE" in out.stderr  # the CLI's advice, by kind


def test_advice_on_the_return_type_only_where_it_can_be_the_trouble():
    answer = run("gwt", "decode", stdin=b"//OK[0,0,[],0,7]")  # two tokens, one value
    assert answer.returncode == 2 and b"unexpected tokens" in answer.stderr
    assert b"see --returns" in answer.stderr
    declared = run("gwt", "decode", "--returns", "java.lang.Object", stdin=b"//OK[0,0,[],0,7]")
    assert declared.returncode == 2 and b"--returns" not in declared.stderr
    request = run("gwt", "decode", stdin=fill(ALL[sorted(ALL)[0]]).encode() + b"5|")
    assert request.returncode == 2 and b"unexpected tokens" in request.stderr
    assert b"--returns" not in request.stderr


def test_hints_by_kind():
    from flows.cli.hints import hint
    from scraper.errors import DecodeError, UnknownClassError

    assert hint(UnknownClassError("a.B", "a.B/1")) == "; add its layout with --schema FILE"
    trailing = DecodeError("2 unexpected tokens after the value", kind="trailing-tokens")
    assert hint(trailing) == "" and "--returns" in hint(trailing, returns_given=False)
    assert hint(DecodeError("x", kind="truncated"), returns_given=False) == ""


def test_encode_bad_json_exits_2():
    out = run("gwt", "encode", stdin=b'{"kind": "request"')
    assert out.returncode == 2


def _permutation(tmp_path):
    from tests.scraper.gwt.permutation.test_shapes import BUILTIN_ROWS, RUNTIME

    program = (RUNTIME + "var jb='DispatcherGwtService',kb='EAA49B7B1A97DFBDC367A2E2573FB3B7';"
               "function pc(){qc.call(this,rc(),jb,kb,new sc)}"
               "function tc(b,c){var a,e;e=new uc(b,'DispatcherService_Proxy','getForm');"
               "a=vc(e,'ru.cti.vpbx.shared.services.DispatcherService',1);wc(a,ab);xc(a,c)}"
               "function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a);b.y=Lg(a)}"
               f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}a['p.K/12']=[Tb,Vb];return a}}")
    path = tmp_path / "ABC.cache.js"
    path.write_text(program)
    return path


def test_schema_services_and_decode_with_a_permutation(tmp_path):
    path = _permutation(tmp_path)
    schema = run("gwt", "schema", str(path))
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["p.K"]["fields"] == [["f0", "java.lang.String"],
                                                          ["f1", "long"]]
    services = json.loads(run("gwt", "services", str(path)).stdout)["services"]
    assert services[0]["path"] == "DispatcherGwtService"
    assert services[0]["methods"] == [{"name": "getForm", "params": ["java.lang.Long/4227064769"]}]
    answer = b"//OK['D',2,1,[\"p.K/12\",\"hello\"],0,7]"  # read backwards: K, "hello", 3
    decoded = run("gwt", "decode", "--permutation", str(path), stdin=answer)
    assert decoded.returncode == 0, decoded.stderr
    value = json.loads(decoded.stdout)["value"]
    assert value["f0"] == "hello" and value["f1"] == 3


def test_not_a_permutation_exits_2_with_a_message(tmp_path):
    path = tmp_path / "app.js"
    path.write_text("console.log('hi')")
    out = run("gwt", "schema", str(path))
    assert out.returncode == 2 and b"not a compiled GWT permutation" in out.stderr


def test_a_bare_int_answer_read_as_an_object_points_at_returns():
    """``//OK[5,[],0,7]`` is an int 5; read as an object the 5 is a type index out of range."""
    answer = run("gwt", "decode", stdin=b"//OK[5,[],0,7]")
    assert answer.returncode == 2 and b"type index out of range" in answer.stderr
    assert b"see --returns" in answer.stderr
    declared = run("gwt", "decode", "--returns", "int", stdin=b"//OK[5,[],0,7]")
    assert declared.returncode == 0 and json.loads(declared.stdout)["value"] == 5
