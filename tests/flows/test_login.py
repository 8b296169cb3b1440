"""The login flow and the session in real headless Chromium against the sandbox cabinet."""

import asyncio
import json
import urllib.request

import pytest

from flows.abonents import ensure_list_template
from flows.login import make_authenticate
from scraper.browser.capture import for_call
from scraper.browser.session import BrowserSession
from scraper.errors import LoginError, UsageError
from scraper.gwt import choose_permutation, discover_permutations, parse_request
from scraper.profile import LIST_RESPONSE
from tests.conftest import account_settings, start_sandbox_process, stop_sandbox_process

pytestmark = pytest.mark.browser


def list_call(session):
    """Replay the app's own list call (the template), pointed at the live build.

    Call ``ensure_list_template`` first: ``open_app`` only waits for the app's first call."""
    def build(learned):
        exchange = learned.template("AbonentBrowserGwtService", "list")
        return learned.retarget(parse_request(exchange.request_body, session.registry))
    return build


def logins(handle):
    return [a for a in handle.audit() if a["method"] == "login"]


async def open_session(host, settings, **kwargs):
    session = BrowserSession(host, settings, authenticate=make_authenticate(**kwargs))
    await session.start()
    return session


async def test_login_learns_the_build(sandbox, state_dir, vats_host):
    state = sandbox.state()
    async with BrowserSession(vats_host, account_settings(sandbox),
                              authenticate=make_authenticate()) as session:
        await session.open_app()
        assert session.logins == 1
        assert session.enterprise_id == state["enterprise_id"]
        learned = session.learned
        assert set(learned.strong_names) >= {"AbonentBrowserGwtService",
                                             "DispatcherGwtService",
                                             "AbonentDeviceFormGwtService", "MenuGwtService"}
        nocache = urllib.request.urlopen(f"{sandbox.url}/vpbxGwt/vpbxGwt.nocache.js").read()
        chosen = choose_permutation(discover_permutations(nocache.decode()))
        assert learned.permutation == chosen  # what nocache.js chose for Chrome
        assert learned.module_base == sandbox.module_base
    assert len(logins(sandbox)) == 1


async def test_wrong_password_carries_the_page_message(sandbox, state_dir, vats_host):
    async with BrowserSession(vats_host, account_settings(sandbox, password="wrong-password"),
                              authenticate=make_authenticate()) as session:
        with pytest.raises(LoginError) as info:
            await session.open_app()
    assert info.value.page_message == "Неверный логин или пароль"
    assert "wrong-password" not in str(info.value)


async def test_session_is_reused_across_runs(sandbox, state_dir, vats_host):
    for run in range(2):
        async with BrowserSession(vats_host, account_settings(sandbox),
                                  authenticate=make_authenticate()) as session:
            await session.open_app()
            await ensure_list_template(session)
            assert session.logins == (1 if run == 0 else 0)
            response = await session.call(list_call(session), read_only=True)
            assert session.live.view(response.value, LIST_RESPONSE).get("count") > 0
    assert len(logins(sandbox)) == 1
    files = [p for p in state_dir.iterdir() if p.is_file()]
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    # the derived layouts of the build, cached by its strong name beside the sessions
    assert {p.suffixes[-1] for p in (state_dir / "builds").iterdir()} == {".json"}


async def test_a_derived_build_is_not_fetched_again(sandbox, state_dir, vats_host):
    """The permutation (megabytes on the real cabinet) goes through the driver only for a build
    not derived before: a second session reads the layouts from the build cache."""
    fetched = []
    for run in range(2):
        async with BrowserSession(vats_host, account_settings(sandbox),
                                  authenticate=make_authenticate()) as session:
            session.page.on("request", lambda r, run=run: fetched.append(run) if (
                r.url.endswith(".cache.js") and r.resource_type == "fetch") else None)
            await session.open_app()
            assert session.live.derived is not None and session.live.binder is not None
            assert "DispatcherGwtService" in session.learned.strong_names
    assert fetched == [0]


async def test_expired_session_logs_in_again_once(sandbox, state_dir, vats_host):
    async with BrowserSession(vats_host, account_settings(sandbox),
                              authenticate=make_authenticate()) as session:
        await session.open_app()
        await ensure_list_template(session)
        sandbox.control(expire_sessions=True)
        response = await session.call(list_call(session), read_only=True)
        assert session.live.view(response.value, LIST_RESPONSE).get("count") > 0
        assert session.logins == 2
    assert len(logins(sandbox)) == 2


async def test_redeploy_mid_session_relearns(sandbox, state_dir, vats_host):
    async with BrowserSession(vats_host, account_settings(sandbox),
                              authenticate=make_authenticate()) as session:
        await session.open_app()
        await ensure_list_template(session)
        old = dict(session.learned.strong_names)
        sandbox.control(redeploy=True)
        assert sandbox.state()["build"] == "newer"
        response = await session.call(list_call(session), read_only=True)
        assert session.live.view(response.value, LIST_RESPONSE).get("count") > 0
        assert session.learned.generation == 1
        assert session.learned.strong_names["DispatcherGwtService"] != old["DispatcherGwtService"]
        assert session.learned.signatures.get(
            "ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER", "").endswith("/1933436215")


async def test_confirmation_code_step(state_dir, vats_host):
    process, (url,), log = start_sandbox_process("--require-code")
    try:
        from tests.conftest import SandboxHandle

        handle = SandboxHandle(url, log)

        async def code_from_state():
            await asyncio.sleep(0.2)  # the page stays alive while the "user" looks for the SMS
            return (await asyncio.to_thread(handle.state))["pending_code"]

        async with BrowserSession(vats_host, account_settings(handle),
                                  authenticate=make_authenticate(code_from_state)) as session:
            await session.open_app()
            assert session.logins == 1
            assert session.redactor.secrets  # the code joined the secrets to redact
    finally:
        stop_sandbox_process(process)


async def test_confirmation_code_time_limit(state_dir, vats_host):
    process, (url,), log = start_sandbox_process("--require-code")
    try:
        from tests.conftest import SandboxHandle

        handle = SandboxHandle(url, log)

        async def never():
            await asyncio.sleep(3600)
            return "000000"

        async with BrowserSession(vats_host, account_settings(handle, code_timeout_s=1),
                                  authenticate=make_authenticate(never)) as session:
            with pytest.raises(LoginError, match="in time"):
                await session.open_app()
    finally:
        stop_sandbox_process(process)


async def test_first_rpc_is_awaited_not_slept(sandbox, state_dir, vats_host):
    sandbox.control(latency_ms=300)
    async with BrowserSession(vats_host, account_settings(sandbox),
                              authenticate=make_authenticate()) as session:
        await session.open_app()
        menu = session.capture.latest(for_call("MenuGwtService", "getMenu"))
        assert menu is not None and menu.status == 200
        assert json.loads(json.dumps(menu.request_headers))["x-gwt-permutation"]


async def test_vats_confirmation_code_reaches_the_flow_through_the_settings(state_dir,
                                                                          monkeypatch, vats_host):
    """The variable is read by ``AccountSettings`` alone; the flow sends what the settings hold
    (a wrong code here, so the cabinet's refusal proves it was sent) and asks no provider."""
    monkeypatch.setenv("VATS_CONFIRMATION_CODE", "1234567")  # 7 digits: never the real code
    process, (url,), log = start_sandbox_process("--require-code")
    try:
        from tests.conftest import SandboxHandle

        handle = SandboxHandle(url, log)

        def provider():
            raise AssertionError("the settings had the code")

        settings = account_settings(handle)
        assert settings.confirmation_code.get_secret_value() == "1234567"
        async with BrowserSession(vats_host, settings,
                                  authenticate=make_authenticate(provider)) as session:
            with pytest.raises(LoginError, match="refused"):
                await session.open_app()
            assert "1234567" in session.redactor.secrets
        assert [e["arguments"]["result"] for e in handle.audit()
                if e["method"] == "confirm"] == ["bad_code"]
    finally:
        stop_sandbox_process(process)


def _code_session(**settings):
    from types import SimpleNamespace

    from scraper.browser.host import BrowserHost
    from scraper.settings import AccountSettings

    # a host that never starts a browser: the code is asked outside any app load here
    return SimpleNamespace(settings=AccountSettings(**settings), host=BrowserHost())


async def test_the_settings_code_wins_over_the_provider(monkeypatch):
    from flows.login import _ask_code

    monkeypatch.setenv("VATS_CONFIRMATION_CODE", "111111")
    assert await _ask_code(_code_session(), lambda: "222222") == "111111"
    assert await _ask_code(_code_session(confirmation_code="333333"), None) == "333333"


async def test_without_a_code_in_the_settings_the_provider_is_asked(monkeypatch):
    from flows.login import _ask_code

    monkeypatch.delenv("VATS_CONFIRMATION_CODE", raising=False)
    assert await _ask_code(_code_session(), lambda: " 444444 ") == "444444"
    with pytest.raises(UsageError, match="VATS_CONFIRMATION_CODE"):
        await _ask_code(_code_session(), None)
