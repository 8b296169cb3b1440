"""The browser layer and the codec know no MTS: every cabinet fact comes from a CabinetProfile.

A grep keeps the MTS names out of scraper/browser and scraper/gwt; the other tests give each
piece (and a whole session, in a real Chromium) a made-up cabinet and see it follow that one.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

import scraper
from scraper.browser.capture import Capture, servlet_of
from scraper.browser.learned import Learned
from scraper.browser.rpc import CallPolicy, RpcCaller
from scraper.browser.session import BrowserSession
from scraper.browser.transport import MockTransport, RawAnswer
from scraper.errors import FlowError, NotGwtAnswerError, SessionError
from scraper.gwt import Instance, Param, Request
from scraper.profile import MTS, CabinetProfile
from scraper.settings import AccountSettings
from tests.conftest import serve

ROOT = Path(scraper.__file__).parent
#: names only the MTS cabinet uses: its servlet path, identify lines, Spring's login field, the
#: SIP password field, its servlet naming, its URLs and its Java package
MTS_LITERALS = ("vpbxGwt", "mobsip_", "j_password", "sipPassword", "GwtService",
                "/gwt/enterprise/", "ru.cti")

OTHER = dataclasses.replace(
    MTS, name="another cabinet", gwt_path="/rpc/", login_path="/signin/",
    login_markers=('name="passphrase"',), enterprise_url=re.compile(r"/org/(\d+)/"),
    secret_fields=frozenset({"apiKey"}), secret_markers=("key_",),
    servlet_renames=(("Service", "Endpoint"),), needs={})
OK = "//OK[0,[],0,7]"


def layer_sources() -> Iterator[Path]:
    yield from sorted((ROOT / "browser").glob("*.py"))
    yield from sorted((ROOT / "gwt").rglob("*.py"))


def test_no_mts_literal_in_the_browser_layer_or_the_codec():
    found = [f"{path.relative_to(ROOT.parent)}:{number}: {literal!r}: {line.strip()}"
             for path in layer_sources()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             for literal in MTS_LITERALS if literal in line]
    assert not found, "MTS specifics belong in scraper/profile.py:\n" + "\n".join(found)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_codec_neither_loads_the_profile_nor_ships_a_schema():
    for path in sorted((ROOT / "gwt").rglob("*.py")):
        imported = _imports(path)
        assert not any(name.startswith(("scraper.profile", "scraper.browser", "flows"))
                       for name in imported), path
    assert not list((ROOT / "gwt").rglob("*.json"))


def _strings(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants that are not docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node


def test_codec_messages_cite_no_command_line_option():
    """Advice naming an option (``--schema``, ``--returns``) is the CLI's to give, by kind."""
    found = [f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}"
             for path in sorted((ROOT / "gwt").rglob("*.py"))
             for node in _strings(ast.parse(path.read_text(encoding="utf-8")))
             if re.search(r"--[a-z]", node.value)]
    assert not found, "\n".join(found)


# --- each piece follows the profile it is given -------------------------------------------


def test_servlets_are_read_under_the_profiles_gwt_path():
    assert servlet_of("https://h/rpc/FooService?x=1", OTHER.gwt_path) == "FooService"
    assert servlet_of("https://h/rpc/module/ABC.cache.js", OTHER.gwt_path) is None
    assert servlet_of("https://h/vpbxGwt/FooService", OTHER.gwt_path) is None
    assert servlet_of("https://h/vpbxGwt/FooService", MTS.gwt_path) == "FooService"
    assert Capture(OTHER.gwt_path).gwt_path == "/rpc/"


def test_unseen_servlets_are_guessed_by_the_profiles_naming():
    learned = Learned(servlet_renames=OTHER.servlet_renames)
    learned.strong_names["FooEndpoint"] = "0" * 32
    assert learned.servlet_for("a.b.FooService") == "FooEndpoint"
    learned.forget()  # the naming rule is no fact of a build
    learned.strong_names.update({"BarService": "1" * 32, "Bar" + "Gwt" + "Service": "2" * 32})
    assert learned.servlet_for("a.b.BarService") == "BarService"  # its own name first
    with pytest.raises(FlowError):
        Learned().servlet_for("a.b.FooService")  # no rule: only the simple name
    mts = Learned(servlet_renames=MTS.servlet_renames)
    mts.strong_names["Dispatcher" + "Gwt" + "Service"] = "3" * 32
    assert mts.servlet_for("x.DispatcherService") == "Dispatcher" + "Gwt" + "Service"


def _caller(body: str, url: str, **kwargs: object) -> RpcCaller:
    learned = Learned(permutation="P" * 32, module_base="https://h/rpc/")
    learned.strong_names["FooService"] = "0" * 32
    transport = MockTransport(lambda *_: RawAnswer(200, body, url, {}))
    return RpcCaller(transport, learned, OTHER.registry(), policy=CallPolicy(
        timeout=1, read_retries=0, walk_attempts=1), **kwargs)  # type: ignore[arg-type]


def _request(_learned: Learned) -> Request:
    return Request("a.b.FooService", "ping", [Param("int", 1)], "https://h/rpc/", "0" * 32)


async def test_an_expired_session_is_the_login_page_the_profile_names():
    page = '<form><input name="passphrase"></form>'
    with pytest.raises(SessionError):
        await _caller(page, "https://h/elsewhere", is_login_page=OTHER.is_login_page).call(
            _request, read_only=True)
    with pytest.raises(SessionError):
        await _caller("<html>", "https://h/signin/?next=/",
                      is_login_page=OTHER.is_login_page).call(_request, read_only=True)
    mts_page = '<form><input name="j_' + 'password"></form>'
    with pytest.raises(NotGwtAnswerError):  # another cabinet's login page is no login page here
        await _caller(mts_page, "https://h/x", is_login_page=OTHER.is_login_page).call(
            _request, read_only=True)
    with pytest.raises(NotGwtAnswerError):  # and without a profile's rule none is
        await _caller(page, "https://h/signin/").call(_request, read_only=True)


def test_the_profile_reads_enterprise_ids_and_login_urls():
    assert OTHER.enterprise_id("https://h/org/42/app") == 42
    assert OTHER.enterprise_id("https://h/gwt/enterprise/42/") is None
    assert MTS.enterprise_id("https://h/gwt/enterprise/42/") == 42
    assert OTHER.is_login_url("https://h/signin/") and not OTHER.is_login_url("https://h/?signin/")
    assert isinstance(MTS, CabinetProfile) and "ru.cti" not in repr(OTHER.gwt_path)


def _session(profile: CabinetProfile | None = None, host: object = None,
             **settings: object) -> BrowserSession:
    async def authenticate(_session: BrowserSession) -> None:
        raise AssertionError("no login in these tests")

    values: dict[str, object] = {"address": "https://h", "reuse_session": False, **settings}
    kwargs = {} if profile is None else {"profile": profile}
    return BrowserSession(host, AccountSettings(**values),  # type: ignore[arg-type]
                          authenticate=authenticate, **kwargs)


def test_a_session_hands_each_piece_what_it_needs_of_its_profile():
    session = _session(OTHER)
    assert session.profile is OTHER
    assert session.capture.gwt_path == "/rpc/"
    assert session.learned.servlet_renames == (("Service", "Endpoint"),)
    assert session.live.needs == {} and session.registry is OTHER.registry()
    session.harvest(Instance("x.K/1", {"apiKey": "k3y-secret", "sip" + "Password": "not-ours"}))
    assert session.redactor.secrets == ("k3y-secret",)
    default = _session()
    assert default.profile is MTS and default.capture.gwt_path == MTS.gwt_path
    assert default.live.needs is MTS.needs


# --- a whole session, in a real Chromium -----------------------------------------------------

APP = """<!doctype html><html><body><script>
(async () => {
  const post = (path, body) => fetch(path, {method: "POST", body,
      headers: {"Content-Type": "text/x-gwt-rpc; charset=UTF-8"}});
  await post("/vpbxGwt/FooService", "7|0|4|x|y|a.b.FooService|ping|1|2|3|4|0|");
  await post("/rpc/FooService", %s);
})();
</script></body></html>"""


@asynccontextmanager
async def cabinet() -> AsyncIterator[str]:
    """An app page whose script calls one servlet under ``/vpbxGwt/`` and then one under
    ``/rpc/``, both answered ``//OK``; yields the base URL."""
    async def app_page(request: web.Request) -> web.Response:
        payload = (f"7|0|5|{request.url.origin()}/rpc/|{'A' * 32}|a.b.FooService|ping|I|"
                   "1|2|3|4|1|5|7|")
        return web.Response(text=APP % f'"{payload}"', content_type="text/html")

    async def servlet(_request: web.Request) -> web.Response:
        return web.Response(text=OK, content_type="application/json")

    app = web.Application()
    app.router.add_get("/org/42/", app_page)
    app.router.add_post("/{servlet_path:(vpbxGwt|rpc)}/FooService", servlet)
    async with serve(app) as url:
        yield url


@pytest.mark.browser
async def test_a_session_captures_and_learns_under_its_profiles_gwt_path(vats_host):
    async with cabinet() as url:
        session = _session(OTHER, vats_host, address=url)
        async with session:
            other = session.capture.expect(lambda e: e.servlet == "FooService")
            await session.goto("/org/42/")
            exchange = await other.wait(10)
            assert exchange.url == f"{url}/rpc/FooService"
            assert [e.url for e in session.capture.exchanges] == [exchange.url]
            assert session.learned.servlets == {"a.b.FooService": "FooService"}
            assert session.learned.strong_names == {"FooService": "A" * 32}
            assert session.profile.enterprise_id(session.page.url) == 42
