"""Build notes on disk: what a walk learned, by the build's strong name (real files).

The sessions that write and recall them run in tests/flows/test_trunks.py (one walk per build).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from scraper.browser.buildnotes import Note, notes_path, read_note, write_note

STRONG = "7AEC7E8A5010EF251B4717D70A3CAAC7"
FORM = Note(ordinal=31, servlet="DispatcherGwtService", body="7|0|6|https://x/vpbxGwt/|...|31|")


def test_a_note_reads_back_as_written_and_others_are_kept(tmp_path: Path) -> None:
    other = Note(ordinal=32, servlet="DispatcherGwtService", body="7|0|6|...|32|")
    write_note(tmp_path, STRONG, "dispatcher.device_form", FORM)
    write_note(tmp_path, STRONG, "dispatcher.abonent_form", other)
    assert read_note(tmp_path, STRONG, "dispatcher.device_form") == FORM
    assert read_note(tmp_path, STRONG, "dispatcher.abonent_form") == other
    assert read_note(tmp_path, STRONG, "dispatcher.unknown") is None
    assert read_note(tmp_path, "0" * 32, "dispatcher.device_form") is None  # another build
    path = notes_path(tmp_path, STRONG)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_no_folder_yet_means_no_note(tmp_path: Path) -> None:
    assert read_note(tmp_path / "missing", STRONG, "dispatcher.device_form") is None
    write_note(tmp_path / "missing", STRONG, "dispatcher.device_form", FORM)  # made on write
    assert read_note(tmp_path / "missing", STRONG, "dispatcher.device_form") == FORM


@pytest.mark.parametrize("content", ["{not json", "[1, 2]",
                                     '{"dispatcher.device_form": {"ordinal": "x"}}',
                                     '{"dispatcher.device_form": {"servlet": "S"}}'])
def test_an_unreadable_note_is_none_and_said(tmp_path: Path, content: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    notes_path(tmp_path, STRONG).write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="scraper.browser.buildnotes"):
        assert read_note(tmp_path, STRONG, "dispatcher.device_form") is None
    if content != "[1, 2]":
        assert caplog.records and str(notes_path(tmp_path, STRONG)) in str(
            caplog.records[0].__dict__.get("path"))
    write_note(tmp_path, STRONG, "dispatcher.device_form", FORM)  # a broken file is replaced
    assert read_note(tmp_path, STRONG, "dispatcher.device_form") == FORM


def test_writers_at_once_lose_no_note(tmp_path: Path) -> None:
    """Accounts of one watcher finish their walks on threads of one process at once."""
    names = [f"note.{n}" for n in range(16)]
    threads = [threading.Thread(target=write_note, args=(tmp_path, STRONG, name,
                                                         Note(n, "S", f"body {n}")))
               for n, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notes = json.loads(notes_path(tmp_path, STRONG).read_text(encoding="utf-8"))
    assert sorted(notes) == sorted(names)
    assert read_note(tmp_path, STRONG, "note.7") == Note(7, "S", "body 7")
