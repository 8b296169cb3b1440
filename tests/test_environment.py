"""Settings are read once: only ``scraper/settings.py`` reads the process environment, and no
module writes it.

Why: a variable read in several places drifts (``VATS_CONFIRMATION_CODE`` was read in three,
``VATS_STATE_DIR`` in two), an explicit setting can be silently overridden by one of them, and a
module that writes ``os.environ`` changes every later run in the process (the demo and the
benchmarks did, to pass a state directory along). Values reach their users as attributes of
``AccountSettings`` / ``ProcessSettings`` instead.

The check walks the syntax tree of every module of the packages: ``os.environ`` / ``os.getenv``
/ ``os.putenv`` / ``os.unsetenv`` (also imported by name or through an alias of ``os``) and
click/typer's ``envvar=``, which reads the environment on the CLI's behalf.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scraper", "flows", "fixtures", "bench")
READER = "scraper/settings.py"
ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
WRITERS = frozenset({"putenv", "unsetenv"})
MUTATORS = frozenset({"pop", "popitem", "clear", "update", "setdefault", "__setitem__",
                      "__delitem__"})

#: modules that still touch the environment, each with why; an entry that no longer does fails
#: the test, so the list only shrinks.
ALLOWED: dict[str, str] = {}


def _env_refs(tree: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Local names bound to the ``os`` module, and to its environment functions/mappings
    (local name → name in ``os``)."""
    modules: set[str] = set()
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    modules.add(alias.asname or "os")
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and node.level == 0:
            for alias in node.names:
                if alias.name in ENV_NAMES:
                    names[alias.asname or alias.name] = alias.name
    return modules, names


def _is_env(node: ast.AST, modules: set[str], names: dict[str, str],
            wanted: frozenset[str] = ENV_NAMES) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in wanted:
        return isinstance(node.value, ast.Name) and node.value.id in modules
    return isinstance(node, ast.Name) and names.get(node.id) in wanted


def environment_uses(source: str) -> tuple[list[str], list[str]]:
    """``(reads, writes)`` of the process environment in ``source``, as ``line: text``."""
    tree = ast.parse(source)
    modules, names = _env_refs(tree)
    lines = source.splitlines()
    reads: list[str] = []
    writes: list[str] = []

    def where(node: ast.AST) -> str:
        lineno = getattr(node, "lineno", 0)
        return f"{lineno}: {lines[lineno - 1].strip()}"

    def environ(node: ast.AST) -> bool:
        return _is_env(node, modules, names, frozenset({"environ", "environb"}))

    def writing(node: ast.AST) -> bool:
        if isinstance(node, ast.Subscript):  # os.environ["X"] = ..., del os.environ["X"]
            return environ(node.value) and isinstance(node.ctx, ast.Store | ast.Del)
        if not isinstance(node, ast.Call):
            return False
        func = node.func  # os.environ.pop(...), os.putenv(...)
        return (isinstance(func, ast.Attribute) and environ(func.value)
                and func.attr in MUTATORS) or _is_env(func, modules, names, WRITERS)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(k.arg == "envvar" for k in node.keywords):
            reads.append(where(node))  # click/typer read the variable for the option
        if writing(node):
            writes.append(where(node))
        elif _is_env(node, modules, names):
            reads.append(where(node))
    def by_line(found: set[str]) -> list[str]:
        return sorted(found, key=lambda text: int(text.split(":")[0]))

    # a write's own reference to os.environ is no separate read
    return by_line(set(reads) - set(writes)), by_line(set(writes))


def package_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_only_settings_reads_and_nothing_writes_the_environment() -> None:
    problems = []
    still_needed = set()
    for path in package_modules():
        name = path.relative_to(ROOT).as_posix()
        reads, writes = environment_uses(path.read_text(encoding="utf-8"))
        if name in ALLOWED:
            if reads or writes:
                still_needed.add(name)
            continue
        problems += [f"{name}:{line} writes the process environment" for line in writes]
        if name != READER:
            problems += [f"{name}:{line} reads the environment (use scraper/settings.py)"
                         for line in reads]
    assert problems == []
    assert still_needed == set(ALLOWED), (
        f"no longer touch the environment, remove from ALLOWED: {set(ALLOWED) - still_needed}")


def test_settings_module_is_there_and_reads_through_pydantic_settings() -> None:
    source = (ROOT / READER).read_text(encoding="utf-8")
    assert "BaseSettings" in source
    assert environment_uses(source) == ([], [])  # pydantic-settings reads; the module does not


def test_checker_finds_reads_and_writes() -> None:
    source = (
        "import os\n"
        "import os as system\n"
        "from os import environ, getenv as ge\n"
        "import typer\n"
        "a = os.environ.get('A')\n"                       # 5 read
        "b = os.getenv('B')\n"                            # 6 read
        "c = ge('C')\n"                                   # 7 read
        "d = dict(environ, X='1')\n"                      # 8 read
        "e = system.environ['E']\n"                       # 9 read
        "os.environ['F'] = '1'\n"                         # 10 write
        "del environ['G']\n"                              # 11 write
        "os.environ.pop('H', None)\n"                     # 12 write
        "system.environ.update(I='1')\n"                  # 13 write
        "os.putenv('J', '1')\n"                           # 14 write
        "opt = typer.Option('--k', envvar='VATS_K')\n"    # 15 read
        "path = os.path.join('a', 'b')\n"                 # not the environment
        "other.environ.get('L')\n"                        # not os
    )
    reads, writes = environment_uses(source)
    assert [r.split(":")[0] for r in reads] == ["5", "6", "7", "8", "9", "15"]
    assert [w.split(":")[0] for w in writes] == ["10", "11", "12", "13", "14"]
