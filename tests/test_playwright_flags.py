"""Our browser tests run on pytest-playwright (its asyncio flavour), so Playwright's own flags
work for them: ``--headed``, ``--slowmo``, ``--browser-channel``, ``--tracing``,
``--screenshot``, ``--video``. tests/conftest.py hands its fixtures the Chromium vats finds.

Checked here in a pytest of its own (``pytester``, a subprocess) that loads our conftest's
launch options: a failing test leaves its trace and screenshot, the flags reach the launch.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from scraper.browser.chromium import find_chromium, is_headless_shell

REPO = Path(__file__).resolve().parents[1]
INI = ("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
       "asyncio_default_test_loop_scope = session\n")
#: a project of the user's, using our conftest's Chromium for pytest-playwright
CONFTEST = "from tests.conftest import browser_type_launch_args  # noqa: F401\n"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # for ``tests.conftest``
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.chdir()
    return pytester


@pytest.mark.browser
def test_a_failing_test_keeps_its_trace_and_screenshot(project: pytest.Pytester) -> None:
    project.makepyfile(test_pages='''
        async def test_fails(page):
            await page.set_content("<h1>vats</h1>")
            assert await page.inner_text("h1") == "something else"

        async def test_passes(page):
            await page.set_content("<h1>vats</h1>")
            assert await page.inner_text("h1") == "vats"
    ''')
    output = project.path / "results"
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tracing", "retain-on-failure",
        "--screenshot", "only-on-failure", "--output", str(output), timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    kept = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    folder = "test-pages-py-test-fails-chromium"
    assert kept == [f"{folder}/test-failed-1.png", f"{folder}/trace.zip"], kept
    assert (output / folder / "test-failed-1.png").read_bytes().startswith(b"\x89PNG")
    with zipfile.ZipFile(output / folder / "trace.zip") as trace:
        assert "trace.trace" in trace.namelist()


def launch_args(project: pytest.Pytester, *flags: str) -> dict[str, object]:
    """The launch options pytest-playwright's browser would get (none is launched)."""
    out = project.path / "args.json"
    project.makepyfile(test_args=f'''
        import json

        def test_args(browser_type_launch_args):
            with open({str(out)!r}, "w") as f:
                json.dump(browser_type_launch_args, f)
    ''')
    project.runpytest_subprocess("-p", "no:cacheprovider", *flags).assert_outcomes(passed=1)
    args: dict[str, object] = json.loads(out.read_text())
    return args


def test_headless_by_default_on_the_headless_shell(project: pytest.Pytester) -> None:
    args = launch_args(project)
    assert args.get("headless", True) is True
    assert args["executable_path"] == str(find_chromium(headless=True))
    assert "--disable-background-networking" in args["args"]  # type: ignore[operator]


def test_headed_slowmo_and_channel_reach_the_launch(project: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")  # a headed launch needs one (none is started)
    args = launch_args(project, "--headed", "--slowmo", "250")
    assert args["headless"] is False and args["slow_mo"] == 250
    full = args["executable_path"]
    assert full == str(find_chromium(headless=False)) and not is_headless_shell(str(full))
    args = launch_args(project, "--browser-channel", "chrome")
    assert args["channel"] == "chrome" and "executable_path" not in args


def test_vats_chromium_names_the_executable(project: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = find_chromium(headless=False)
    if chosen is None:
        pytest.skip("no Chromium here")
    monkeypatch.setenv("VATS_CHROMIUM", str(chosen))
    assert launch_args(project)["executable_path"] == str(chosen)
