"""vats' pytest plugin, used the way an integrator uses it: a test file of their own, run by
pytest in a subprocess (``pytester``), that asks for ``vats_sandbox`` and drives it with
``flows.client.Vats``. The plugin arrives through the ``pytest11`` entry point of the installed
package — no conftest.py, no ``-p`` — so the run also proves the registration.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vats_fixtures.pytest_plugin import VatsSandbox, sandbox_handle

README = Path(__file__).resolve().parents[1] / "README.md"

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

INTEGRATOR_TESTS = '''
from flows.client import Vats

PHONE = []  # the trunk the first test switched off


async def test_my_job_switches_a_trunk_off(vats_sandbox, tmp_path):
    trunk = next(t for t in vats_sandbox.trunks() if t["device"] and t["device"]["enabled"])
    settings = vats_sandbox.settings()
    assert settings.address == vats_sandbox.url and settings.login == vats_sandbox.login
    assert settings.audit_db.is_relative_to(tmp_path)  # never the user's own audit log
    async with Vats(settings=settings) as vats:
        report = await vats.disable([trunk["phone"]])
    assert report.counts() == {"done": 1, "skipped": 0, "failed": 0}
    assert vats_sandbox.abonent(trunk["phone"])["device"]["enabled"] is False
    assert [e["method"] for e in vats_sandbox.audit()].count("login") == 1
    PHONE.append(trunk["phone"])


def test_the_next_test_starts_from_the_seed(vats_sandbox):
    assert vats_sandbox.abonent(PHONE[0])["device"]["enabled"] is True
    assert vats_sandbox.audit() == []


def test_faults_and_options(vats_sandbox, pytestconfig):
    assert len(vats_sandbox.state()["abonents"]) == 7  # --vats-sandbox-abonents 7
    knobs = vats_sandbox.control(latency_ms=5, faults=[{"kind": "http500", "rate": 0.5}])
    assert knobs["latency_ms"] == 5 and knobs["faults"][0]["kind"] == "http500"
    vats_sandbox.control(expire_sessions=True, redeploy=True)
    assert vats_sandbox.state()["build"] == "newer"
'''


@pytest.mark.browser
def test_an_integrators_test_file_runs_against_the_sandbox(pytester: pytest.Pytester,
                                                          tmp_path) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_provisioning=INTEGRATOR_TESTS, test_readme=readme_example())
    pytester.chdir()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--vats-sandbox-abonents",
                                           "7", "-q", timeout=240)
    result.assert_outcomes(passed=4)


def readme_example() -> str:
    """The example of the README's section on the plugin, as it stands there."""
    section = README.read_text(encoding="utf-8").split(
        "## Testing your own code against the sandbox (pytest plugin)", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_plugin_is_registered_with_its_options(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--vats-sandbox-abonents=N*", "*--vats-sandbox-args=ARGS*"])
    result = pytester.runpytest_subprocess("--fixtures")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["plugins:* vats-*",
                                 "*fixtures defined from vats_fixtures.pytest_plugin*",
                                 "vats_sandbox_server *-- *pytest_plugin.py*",
                                 "vats_sandbox -- *pytest_plugin.py*"])


def test_a_handle_knows_its_login_and_certificate() -> None:
    with sandbox_handle("--tls", "--account-login", "+7-9111111111", "--abonents", "2") as handle:
        assert isinstance(handle, VatsSandbox)
        assert handle.url.startswith("https://127.0.0.1:") and handle.cert_path is not None
        assert handle.login == "+7-9111111111" and handle.password == "sandbox"
        assert len(handle.state()["abonents"]) == 2  # over HTTPS, trusting its certificate
        settings = handle.settings(timeout_s=3)
        assert settings.ca_cert == handle.cert_path and settings.timeout_s == 3
        assert settings.state_dir is None  # no workdir: VATS_STATE_DIR or the default
