"""The README's commands, run as written against the sandbox (only the account and the numbers
are swapped for the sandbox's): what the README promises a user types must work."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT_LOGIN, REPO, SandboxHandle

pytestmark = pytest.mark.browser

SECTION = "## Using it on a real account"
CHANGES = {"enable", "disable", "add-device", "remove-device"}


def readme_commands() -> list[list[str]]:
    """The ``.venv/bin/vats …`` lines of the README's first shell block after SECTION."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index(SECTION):], re.S)
    assert block is not None, "the README lost its example block"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == ".venv/bin/vats":
            commands.append(words[1:])
    assert len(commands) >= 8, commands
    return commands


def trunk_numbers(handle: SandboxHandle) -> dict[str, Any]:
    """Sandbox numbers standing in for the README's: inactive trunks with a device switched off
    (to enable), and trunks whose device is on (to disable)."""
    trunks = [a for a in handle.state()["abonents"] if a["identify_line"]
              and not a["marked_for_deletion"] and not a["blocked"]]
    off = [a["phone"] for a in trunks if not a["active"] and a["device"]
           and not a["device"]["enabled"]]
    on = [a["phone"] for a in trunks if a["device"] and a["device"]["enabled"]]
    assert len(off) >= 2 and len(on) >= 2
    return {"79990000000": off[0], "79990000001": off[1], "lines": on[:2]}


@pytest.mark.parametrize("index", range(len(readme_commands())))
def test_readme_command_runs_as_written(index: int, sandbox: SandboxHandle,
                                        tmp_path: Path) -> None:
    numbers = trunk_numbers(sandbox)
    (tmp_path / "lines.txt").write_text("\n".join(numbers["lines"]) + "\n")
    (tmp_path / "debug").mkdir()
    args = [numbers.get(word, word) for word in readme_commands()[index]]
    args = [ACCOUNT_LOGIN if word == "+7-9XXXXXXXXX" else word for word in args]
    if CHANGES & set(args) and not {"--yes", "--dry-run"} & set(args):
        args.append("--yes")  # the user answers "y" at the terminal; here there is none
    env = dict(os.environ, VATS_PASSWORD="sandbox", VATS_STATE_DIR=str(tmp_path / "state"),
               VATS_AUDIT_DB=str(tmp_path / "audit.sqlite"))
    result = subprocess.run([sys.executable, "-m", "flows.cli", "--address", sandbox.url, *args],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (args, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    for word in args:  # every file the command names was written
        if word.endswith((".csv", ".jsonl", ".zip")):
            assert (tmp_path / word).stat().st_size > 0, word
