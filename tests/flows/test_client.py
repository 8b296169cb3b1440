"""The library facades: ``VatsSync`` offers every public method of ``Vats``, run on its loop."""

import asyncio
import inspect

import pytest

from flows.client import Vats, VatsSync
from tests.conftest import account_settings

#: ``Vats`` names whose sync counterpart is spelled differently
RENAMED = {"aclose": "close"}


def public_methods(cls):
    return {name for name, value in inspect.getmembers(cls)
            if not name.startswith("_") and inspect.isfunction(value)}


def public_coroutines(cls):
    return {name for name in public_methods(cls)
            if inspect.iscoroutinefunction(getattr(cls, name))}


def test_vats_sync_has_every_public_method_of_vats():
    wanted = {RENAMED.get(name, name) for name in public_methods(Vats)}
    assert wanted - public_methods(VatsSync) == set()
    assert public_coroutines(VatsSync) == set()  # nothing to await in the sync facade
    for name, value in inspect.getmembers(Vats):
        if not name.startswith("_") and isinstance(value, property):
            assert isinstance(getattr(VatsSync, name, None), property), name


@pytest.mark.parametrize("name", sorted(public_coroutines(Vats) - set(RENAMED)))
def test_each_sync_method_has_the_same_signature_and_runs_on_the_facade_loop(name):
    theirs = inspect.signature(getattr(Vats, name))
    ours = inspect.signature(getattr(VatsSync, name))
    assert list(ours.parameters) == list(theirs.parameters), name
    for param in list(theirs.parameters)[1:]:
        assert ours.parameters[param].default == theirs.parameters[param].default, (name, param)
        assert ours.parameters[param].kind == theirs.parameters[param].kind, (name, param)
    assert getattr(VatsSync, name).__doc__ == getattr(Vats, name).__doc__

    seen = []

    class Fake:
        pass

    async def record(*args, **kwargs):
        seen.append((asyncio.get_running_loop(), args, kwargs))
        return "result"

    fake = Fake()
    setattr(fake, name, record)
    sync = VatsSync()
    sync._vats = fake  # as if entered: only the wrapper's plumbing is under test here
    try:
        assert getattr(sync, name)("a", key="b") == "result"
        assert getattr(sync, name)() == "result"
        loops = {loop for loop, _, _ in seen}
        assert loops == {sync._runner.get_loop()}  # one loop: the facade's, every call
        assert seen[0][1:] == (("a",), {"key": "b"})
    finally:
        sync._runner.close()


def test_a_sync_method_before_entering_says_how_to_use_it():
    sync = VatsSync()
    try:
        with pytest.raises(RuntimeError, match="with VatsSync"):
            sync.plan("enable", ["79990000001"])
    finally:
        sync._runner.close()


@pytest.mark.browser
def test_vats_sync_plans_applies_and_changes_against_the_sandbox(sandbox, state_dir, tmp_path):
    off = [a["phone"] for a in sandbox.state()["abonents"]
           if a["identify_line"] and a["device"] and not a["device"]["enabled"]][:3]
    settings = account_settings(sandbox, audit_db=tmp_path / "audit.sqlite")
    with VatsSync(settings=settings) as client:
        plan = client.plan("enable", off[:1])
        assert [i.status for i in plan] == ["apply"]
        report = client.apply("enable", plan)
        assert report.counts() == {"done": 1, "skipped": 0, "failed": 0}
        dry = client.enable(off[1:], dry_run=True)
        assert dry.results == [] and dry.plan_counts()["apply"] == 2
        done = client.enable(off[1:])
        assert done.counts()["done"] == 2
        assert {t.phone for t in client.trunks(numbers=off).trunks} == set(off)
        assert [e.number for e in client.audit.entries()] != []
    state = {a["phone"]: a for a in sandbox.state()["abonents"]}
    assert all(state[n]["device"]["enabled"] for n in off)


@pytest.mark.browser
def test_the_readme_vats_sync_example_runs(sandbox, tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(b.split("```", 1)[0] for b in readme.split("```python\n")[1:]
                 if "from flows.client import VatsSync" in b)
    number = next(a["phone"] for a in sandbox.state()["abonents"]
                  if a["identify_line"] and a["device"] and not a["device"]["enabled"])
    code = block.replace("http://127.0.0.1:8480", sandbox.url).replace("79990000000", number)
    env = dict(os.environ, VATS_STATE_DIR=str(tmp_path / "s"),
               VATS_AUDIT_DB=str(tmp_path / "audit.sqlite"))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'done': 1" in result.stdout and number in result.stdout
