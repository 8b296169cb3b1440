"""Debug artifacts in a real headless Chromium: masked screenshots and a trace with no secret.

A tiny aiohttp cabinet on 127.0.0.1 serves a login form, sets a session cookie, and answers one
GWT call carrying a SIP password, so the raw trace holds the secrets in the forms the real
cabinet produces (fill() parameters, ``__playwright_value_`` in DOM snapshots, the posted form
body, GWT request and response bodies, HTML). The test first proves the raw trace holds them,
then that the kept trace holds none of them.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from scraper.browser.debug import DebugRecorder
from scraper.browser.redact import Redactor
from scraper.errors import UsageError
from scraper.gwt.escapes import escape_response_string, quote_request_string
from tests.conftest import serve
from tests.scraper.browser.test_redact import forms_of

#: ``browser`` is pytest-playwright's; its contexts are opened here (``browser.new_context``), so
#: pytest's own ``--tracing`` never takes the trace the recorder starts
pytestmark = pytest.mark.browser

LOGIN = "+7-9000000000"
PASSWORD = "Pa&s=w<o>r'd\"\\Пароль"
SIP_PASSWORD = "s1p&=<>'\"\\пароль"
COOKIE = "5E3F0A1B2C3D4E5F60718293A4B5C6D7"
SECRETS = (LOGIN, PASSWORD, SIP_PASSWORD, COOKIE)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MASK_COLOUR = [255, 0, 255, 255]  # Playwright's default mask colour, opaque

LOGIN_PAGE = """<!doctype html><html><head><title>Вход</title></head><body>
<form method="post" action="/j_spring_security_check">
  <label>Логин <input name="j_username"></label>
  <label>Пароль <input type="password" name="j_password"></label>
  <button>Войти</button>
</form></body></html>"""

APP_PAGE = """<!doctype html><html><head><title>ВАТС</title></head><body>
<p>Абонент {login}</p>
<p>SIP: <span id="sip" data-vats-secret>{sip_html}</span></p>
<pre id="raw"></pre>
<script>
fetch("/vpbxGwt/dispatcher", {{method: "POST", headers: {{"Content-Type": "text/x-gwt-rpc; charset=UTF-8"}},
       body: {payload}}})
  .then(r => r.text()).then(t => {{ document.getElementById("raw").textContent = t; }});
</script></body></html>"""


@asynccontextmanager
async def cabinet() -> AsyncIterator[str]:
    """A login form, an app page and one GWT servlet on 127.0.0.1, port 0; yields the base URL."""

    async def login_page(_request: web.Request) -> web.Response:
        answer = web.Response(text=LOGIN_PAGE, content_type="text/html")
        answer.set_cookie("JSESSIONID", COOKIE, httponly=True)
        return answer

    async def check(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["j_username"] == LOGIN and form["j_password"] == PASSWORD
        payload = (f"7|0|5|{request.url.origin()}/vpbxGwt/|S|Svc|setSip|"
                   f"{quote_request_string(SIP_PASSWORD)}|1|2|3|4|1|5|")
        return web.Response(content_type="text/html", text=APP_PAGE.format(
            login=html.escape(LOGIN), sip_html=html.escape(SIP_PASSWORD), payload=json.dumps(payload)))

    async def servlet(request: web.Request) -> web.Response:
        body = await request.text()
        assert quote_request_string(SIP_PASSWORD) in body
        assert request.cookies.get("JSESSIONID") == COOKIE
        return web.Response(text=f'//OK[1,["{escape_response_string(SIP_PASSWORD)}"],0,7]',
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/login/", login_page)
    app.router.add_post("/j_spring_security_check", check)
    app.router.add_post("/vpbxGwt/dispatcher", servlet)
    async with serve(app) as url:
        yield url


class RawKeepingRedactor(Redactor):
    """Keeps a copy of the trace as Playwright wrote it, to prove the secrets were there."""

    def __init__(self, secrets: tuple[str, ...], copy_to: Path) -> None:
        super().__init__(secrets)
        self.copy_to = copy_to

    def zip_file(self, path: Path) -> int:
        shutil.copyfile(path, self.copy_to)
        return super().zip_file(path)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def base64_cores(secret: str) -> list[bytes]:
    """The secret's base64 as it looks inside a longer body at each byte alignment."""
    raw = secret.encode()
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).rstrip(b"=")
        cores.append(encoded[(offset * 8 + 5) // 6:((offset + len(raw)) * 8) // 6])
    return cores


def every_form(secret: str) -> dict[str, bytes]:
    forms = {name: form.encode() for name, form in forms_of(secret).items()}
    forms.update({f"base64 {i}": core for i, core in enumerate(base64_cores(secret))})
    return forms


async def pixel(page: Any, png: bytes, x: float, y: float) -> list[int]:
    """The RGBA of one pixel of ``png``, read back through a canvas in the browser itself."""
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    return await page.evaluate(
        """async ([url, x, y]) => {
            const img = new Image(); img.src = url; await img.decode();
            const canvas = document.createElement("canvas");
            canvas.width = img.width; canvas.height = img.height;
            const ctx = canvas.getContext("2d"); ctx.drawImage(img, 0, 0);
            return Array.from(ctx.getImageData(x, y, 1, 1).data);
        }""",
        [data_url, x, y],
    )


async def log_in(page: Any, url: str, recorder: DebugRecorder) -> dict[str, float]:
    """The flow under test: open, fill, screenshot, submit, wait for the GWT answer, screenshot.

    Returns where the password field was when its screenshot was taken.
    """
    await page.goto(f"{url}/login/")
    await recorder.step(page, "login page")
    await page.get_by_label("Логин").fill(LOGIN)
    await page.get_by_label("Пароль").fill(PASSWORD)
    password_box = await page.get_by_label("Пароль").bounding_box()
    await recorder.step(page, "filled " + PASSWORD)  # a secret in a step name is masked too
    async with page.expect_response(lambda r: "/vpbxGwt/" in r.url) as answer:
        await page.get_by_role("button", name="Войти").click()
    assert (await (await answer.value).text()).startswith("//OK[")
    await page.locator("#raw").filter(has_text="//OK").wait_for()
    await recorder.step(page, "app")
    assert password_box is not None
    return password_box


def centre(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def test_failed_flow_leaves_masked_screenshots_and_a_trace_without_secrets(tmp_path, browser):
    debug_dir = tmp_path / "debug"
    raw_copy = tmp_path / "raw-trace.zip"
    redactor = RawKeepingRedactor(SECRETS, raw_copy)
    recorder = DebugRecorder(debug_dir, redactor, trace="on-failure")
    async with cabinet() as url:
        context = await browser.new_context()
        await recorder.start(context)
        page = await context.new_page()
        password_box = await log_in(page, url, recorder)
        sip_box = await page.locator("#sip").bounding_box()
        assert sip_box is not None
        trace = await recorder.finish(context, failed=True)
        await context.close()

        # screenshots: PNGs named by step; the password field and the SIP password are masked
        shots = sorted(debug_dir.glob("*.png"))
        assert [p.name for p in shots] == ["01-login-page.png", "02-filled.png", "03-app.png"]
        assert all(p.read_bytes().startswith(PNG_MAGIC) for p in shots)
        scratch = await browser.new_page()
        filled, app = shots[1].read_bytes(), shots[2].read_bytes()
        assert await pixel(scratch, filled, *centre(password_box)) == MASK_COLOUR
        assert await pixel(scratch, app, *centre(sip_box)) == MASK_COLOUR
        assert await pixel(scratch, app, 2, 2) != MASK_COLOUR  # and not everything is
        await scratch.close()

    assert trace is not None and trace.parent == debug_dir
    assert trace.name.startswith("trace-") and trace.suffix == ".zip"
    assert recorder.artifacts == [*shots, trace]
    assert sorted(debug_dir.iterdir()) == sorted([*shots, trace])  # no raw trace left behind

    # the raw trace really held the secrets, in several forms ...
    raw = b"".join(members(raw_copy).values())
    for secret, name in [(PASSWORD, "json"), (PASSWORD, "quote_plus"),
                         (SIP_PASSWORD, "gwt response"), (SIP_PASSWORD, "gwt request"),
                         (LOGIN, "quote_plus"), (COOKIE, "raw")]:
        assert every_form(secret)[name] in raw, (secret, name)

    # ... and the kept one holds none of them, in no member, in no form
    kept = members(trace)
    assert kept.keys() == members(raw_copy).keys()
    assert any(name.startswith("resources/") for name in kept)
    for member, data in kept.items():
        for secret in SECRETS:
            for name, form in every_form(secret).items():
                assert form not in data, (member, secret, name)
    assert b"***" in kept["trace.trace"]
    # and none of the many more forms the Redactor knows: a second pass finds nothing
    assert all(redactor.data_count(data)[1] == 0 for data in kept.values())


async def test_trace_modes_and_disabled_recorder(tmp_path, browser):
    redactor = Redactor(SECRETS)
    async with cabinet() as url:
        async def run(recorder: DebugRecorder, *, failed: bool) -> Path | None:
            context = await browser.new_context()
            try:
                await recorder.start(context)
                page = await context.new_page()
                await page.goto(f"{url}/login/")
                await page.get_by_label("Пароль").fill(PASSWORD)
                await recorder.step(page, "step")
                return await recorder.finish(context, failed=failed)
            finally:
                await context.close()

        off = DebugRecorder(tmp_path / "off", redactor, trace="off")
        assert await run(off, failed=True) is None
        assert [p.name for p in (tmp_path / "off").iterdir()] == ["01-step.png"]

        success = DebugRecorder(tmp_path / "ok", redactor)
        assert await run(success, failed=False) is None
        assert [p.name for p in (tmp_path / "ok").iterdir()] == ["01-step.png"]

        always = DebugRecorder(tmp_path / "always", redactor, trace="always")
        kept = await run(always, failed=False)
        assert kept is not None and kept.exists()
        for data in members(kept).values():
            assert not any(form in data for form in every_form(PASSWORD).values())
            assert redactor.data_count(data)[1] == 0

        disabled = DebugRecorder(None, redactor, trace="always")
        before = sorted(tmp_path.rglob("*"))
        assert await run(disabled, failed=True) is None
        assert disabled.artifacts == []
        assert sorted(tmp_path.rglob("*")) == before


def test_unknown_trace_mode_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="on-failure"):
        DebugRecorder(tmp_path, Redactor(), trace="sometimes")


async def test_artifact_failures_never_raise(tmp_path, browser):
    """A closed page or context must not turn a flow's own error into a debugging error."""
    context = await browser.new_context()
    recorder = DebugRecorder(tmp_path, Redactor(SECRETS), trace="always")
    await recorder.start(context)
    page = await context.new_page()
    await context.close()
    assert await recorder.step(page, "gone") is None
    assert await recorder.finish(context, failed=True) is None
    assert list(tmp_path.iterdir()) == []
