"""What a wheel of vats installs (issue 13, point 9).

The folder fixtures/ (the sandbox cabinet, recorded traffic, the pytest plugin) is installed as
``vats_fixtures``: PyPI's ``fixtures`` — a well-known testing library — owns the top-level name
``fixtures``, and a vats wheel beside it would shadow it or be shadowed. The folder keeps its
name in the tree (pyproject.toml maps it with ``package-dir``); inside it modules import each
other relatively, everything else imports ``vats_fixtures``. ``scraper`` and ``flows`` keep
their names (see the note in ``test_the_wheel_installs_three_packages``).

The wheel tests build a real wheel (``pip wheel``, in an isolated build environment from the
package index) and install it into a fresh virtual environment next to PyPI's ``fixtures``;
``vats sandbox``, ``vats demo`` and the pytest plugin then run from the wheel alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder in the tree -> the name it is installed under
FOLDERS = {"scraper": "scraper", "flows": "flows", "fixtures": "vats_fixtures"}
#: what a network failure of pip looks like (the index is needed to build and to get PyPI's
#: ``fixtures``); anything else fails the test
OFFLINE = re.compile(r"No matching distribution|Could not find a version|NewConnectionError|"
                     r"Temporary failure in name resolution|Network is unreachable")


def setuptools_config() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict[str, object] = tomllib.load(f)["tool"]["setuptools"]
    return config


def tree_files() -> dict[str, Path]:
    """Every file the wheel must hold: its path in the wheel -> the file in the tree."""
    files = {}
    for folder, name in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                inside = path.relative_to(ROOT / folder).as_posix()
                files[f"{name}/{inside}"] = path
    return files


def test_every_folder_is_a_listed_package() -> None:
    """``packages`` is a list (setuptools' find cannot rename): a folder added to the tree and
    not to the list would be missing from the wheel while the editable install still works."""
    folders = {str(Path(p).parent).replace("/", ".") for p in tree_files()}
    config = setuptools_config()
    assert sorted(config["packages"]) == sorted(folders)  # type: ignore[arg-type]
    assert config["package-dir"] == {"vats_fixtures": "fixtures"}


def test_nothing_imports_the_folder_name() -> None:
    """One name for the sandbox: ``fixtures.x`` next to ``vats_fixtures.x`` would load its
    modules twice in a checkout (two registries, two context keys), and does not exist at all
    in an installed wheel."""
    pattern = re.compile(r"^\s*(?:from|import)\s+fixtures\b|[\"' ]fixtures\.(?:sandbox|recorded)\b"
                         r"|-m fixtures\b", re.M)
    found = []
    for folder in ("scraper", "flows", "fixtures", "bench", "tests", "docs", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", "") and path.is_file() and path != Path(__file__):
                text = path.read_text(encoding="utf-8", errors="replace")
                found += [f"{path.relative_to(ROOT)}: {m.group().strip()}"
                          for m in pattern.finditer(text)]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found += [f"README.md: {m.group().strip()}" for m in pattern.finditer(text)]
    assert found == []


# --- a real wheel -------------------------------------------------------------------------------


def pip(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                           *(["--python", python] if python != sys.executable else []), *args],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        if OFFLINE.search(done.stdout + done.stderr):
            pytest.skip(f"no package index here: {done.stderr.strip().splitlines()[-1]}")
        raise AssertionError(done.stdout + done.stderr)
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tree (a build writes build/ into its source)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "-q", "-w", str(out), str(source))
    (built,) = out.glob("vats-*.whl")
    return built


def test_the_wheel_installs_three_packages(wheel: Path) -> None:
    """``scraper`` and ``flows`` keep their names: PyPI has a "scraper" (0.1.0, one module,
    unmaintained) and a "flows" (a workflow tool) that install the same top-level names, but
    neither is a library people have next to vats, and renaming them would rename every import
    of the project and its users; ``fixtures`` is a widely used testing library."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        files = {n: archive.read(n) for n in names if not n.startswith(info + "/")}
    assert sorted(top_level) == ["flows", "scraper", "vats_fixtures"]
    assert {n.split("/")[0] for n in files} == {"flows", "scraper", "vats_fixtures"}
    assert not any(n.startswith("fixtures/") for n in names)
    want = tree_files()
    assert sorted(files) == sorted(want)  # every module and data file (static/, templates/, ...)
    assert all(files[n] == path.read_bytes() for n, path in want.items())
    assert "vats = flows.cli:main" in entry_points
    assert "[pytest11]\nvats = vats_fixtures.pytest_plugin" in entry_points


PLUGIN_TEST = """
def test_the_sandbox_from_the_wheel(vats_sandbox):
    import vats_fixtures
    assert "site-packages" in vats_fixtures.__file__
    assert len(vats_sandbox.state()["abonents"]) == 3
"""


@pytest.mark.browser
def test_the_wheel_works_beside_pypi_fixtures(wheel: Path, tmp_path: Path) -> None:
    """A fresh environment with the wheel and PyPI's ``fixtures``: both import as themselves,
    and ``vats sandbox``, ``vats demo`` and the ``vats_sandbox`` fixture run from the wheel.
    The wheel's dependencies come from this environment (a path in a .pth file), not the
    index; nothing runs inside the repository, so nothing can come from the tree."""
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    pip("install", "-q", "--no-deps", str(wheel), "fixtures", python=python)
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "vats_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VATS_STATE_DIR=str(tmp_path / "state"), VATS_AUDIT_DB=str(tmp_path / "audit.db"))
    work = tmp_path / "work"
    work.mkdir()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=240, check=False)

    both = run(python, "-c", "import fixtures, vats_fixtures.sandbox, flows.cli, scraper; "
                             "print(fixtures.__file__); print(fixtures.Fixture.__name__); "
                             "print(vats_fixtures.__file__)")
    assert both.returncode == 0, both.stderr
    pypi, fixture_class, ours = both.stdout.split()
    assert pypi == str(site / "fixtures" / "__init__.py") and fixture_class == "Fixture"
    assert ours == str(site / "vats_fixtures" / "__init__.py")

    vats = str(env_dir / "bin" / "vats")
    sandbox = subprocess.Popen([vats, "sandbox", "--port", "0", "--abonents", "3"], cwd=work,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/login/", timeout=10) as page:
            assert "j_username" in page.read().decode()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    demo = run(vats, "demo", "--abonents", "6")
    assert demo.returncode == 0, demo.stderr
    assert re.search(r"\d+ trunks?: \d+ working", demo.stderr), demo.stderr

    (work / "test_mine.py").write_text(PLUGIN_TEST)
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--vats-sandbox-abonents", "3", "test_mine.py")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout
