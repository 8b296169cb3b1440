"""The repository is self-contained: no file refers to anything outside the checkout.

Why: the README, docs, code and tests once pointed at notes and test vectors kept beside the
checkout; a clone did not have them, so the golden tests skipped and the links led nowhere. The
vectors now live in ``tests/data/`` and the formats are described in ``docs/``. This walks every
text file git knows of (tracked, and new files not ignored) and fails naming ``file:line`` for:

* a relative path that climbs out of the repository (two dots and a slash, resolved from the
  file's own folder), in a Markdown link or anywhere else;
* an absolute path into a workspace or home folder (one machine's checkout);
* the environment variable that used to point the tests at the folder beside the checkout;
* a Markdown link to a file that does not exist in the repository;
* a Markdown document named by its file name that is no file of the repository;
* a section sign citation (the section sign and a number) not right after the name of a
  Markdown file of the repository: it cites a document the reader does not have.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "\u00a7"
MD = ".m" + "d"  # the Markdown suffix, in pieces so that this file passes its own scan
#: folders never scanned when git cannot list the files (a source tree without .git)
SKIPPED_DIRS = frozenset({".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache",
                          ".ruff_cache", ".hypothesis", "test-results", "debug", "build", "dist",
                          "out"})

#: files whose references are still to be fixed by their owner, each with why; an entry whose
#: file is clean fails the test, so the list only shrinks.
PENDING: dict[str, str] = {}

# built from pieces so that this file passes its own scan
UP = re.escape("..") + "/"
CLIMB = re.compile(r"(?<![\w.])((?:" + UP + r")+)([\w.-]*)")
ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:work|home|Users)/[\w.-]+")
OLD_VARIABLE = re.compile("VATS_" + "SHARED")
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENT = re.compile(r"(?<![\w/.-])([\w./-]*[\w-]\.md)\b")
CITATION = re.compile(SECTION + r"\s?\d")


def text_files() -> Iterator[Path]:
    """Every file git tracks or would add, that reads as UTF-8 text."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout.decode()
        paths = [ROOT / name for name in sorted(set(listed.split("\0"))) if name]
    except (OSError, subprocess.SubprocessError):
        paths = sorted(p for p in ROOT.rglob("*")
                       if not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts))
    for path in paths:
        if not path.is_file():
            continue  # deleted in the working tree, or a folder
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        yield path


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(ROOT)


def markdown_names() -> tuple[set[str], set[str]]:
    """Repository-relative paths of the Markdown files, and their file names."""
    files = [p for p in text_files() if p.suffix == ".md"]
    return ({p.relative_to(ROOT).as_posix() for p in files}, {p.name for p in files})


def _names_document(name: str, here: Path, paths: set[str], names: set[str]) -> bool:
    """Whether ``name`` (as written) is a Markdown file of the repository: a path from the
    citing file's folder or from the root, or the file name of one of them."""
    if name in paths or ("/" not in name and name in names):
        return True
    candidate = (here.parent / name)
    return _inside(candidate) and candidate.resolve().relative_to(ROOT).as_posix() in paths


def problems_in(path: Path, text: str, paths: set[str], names: set[str]) -> list[str]:
    where = path.relative_to(ROOT).as_posix()
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        def report(what: str, line_no: int = number, text: str = line) -> None:
            found.append(f"{where}:{line_no}: {what}: {text.strip()[:160]}")

        for match in CLIMB.finditer(line) if ".." in line else ():
            if not _inside(path.parent / (match.group(1) + match.group(2))):
                report("a path that leaves the repository")
        if ABSOLUTE.search(line):
            report("an absolute path of one machine")
        if OLD_VARIABLE.search(line):
            report("the variable that pointed outside the repository")
        if path.suffix == ".md":
            for match in LINK.finditer(line) if "](" in line else ():
                target = match.group(1).split("#", 1)[0]
                if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):
                    continue  # an anchor in the same file, or a URL
                resolved = path.parent / target
                if not _inside(resolved) or not resolved.exists():
                    report(f"a link to {target}, which is not in the repository")
        for match in DOCUMENT.finditer(line) if ".md" in line else ():
            if not _names_document(match.group(1), path, paths, names):
                report(f"{match.group(1)} is no file of the repository")
        for match in CITATION.finditer(line) if SECTION in line else ():
            before = line[:match.start()]
            if before[-1:].isalpha():
                continue  # a section sign inside a word or a value, not a citation
            words = before.split()
            cited = words[-1].strip("([`*_,;:") if words else ""
            if not (cited.endswith(".md") and _names_document(cited, path, paths, names)):
                report("a section cited of a document the repository does not have")
    return found


def test_nothing_refers_outside_the_repository() -> None:
    paths, names = markdown_names()
    found: list[str] = []
    clean_pending: list[str] = []
    for path in text_files():
        problems = problems_in(path, path.read_text(encoding="utf-8"), paths, names)
        where = path.relative_to(ROOT).as_posix()
        if where not in PENDING:
            found += problems
        elif not problems:
            clean_pending.append(where)
    assert not found, "references outside the repository:\n" + "\n".join(found)
    assert not clean_pending, f"no longer pending, remove from PENDING: {clean_pending}"


def test_the_check_catches_what_it_should() -> None:
    """The scan itself, on lines that must and must not be reported."""
    doc = ROOT / "docs" / f"example{MD}"
    paths, names = {f"docs/json-form{MD}", f"README{MD}"}, {f"json-form{MD}", f"README{MD}"}
    up = ".." + "/"
    bad = [
        f"see [the notes]({up}{up}notes/spec{MD})",
        f"read {up}{up}{up}elsewhere/vectors",
        "/wo" + "rk/main/.venv/bin/python",
        "VATS_" + "SHARED=/tmp/x",
        f"the format of spec{MD}",
        "as spec " + SECTION + "6 says",
        f"[missing](nowhere{MD})",
    ]
    good = [
        f"see [the form](json-form{MD}) and README{MD}",
        f"[up one]({up}README.md)",
        f"docs/json-form{MD} {SECTION}2",
        "https://example.invalid/home/x and C:/work/x",
        "a password such as Gr\u00fc\u00dfe" + SECTION + "2024",
    ]
    for line in bad:
        assert problems_in(doc, line, paths, names), line
    for line in good:
        assert not problems_in(doc, line, paths, names), line
