"""The tests themselves: every test asserts something.

A test with no assertion passes whatever the code under test does. This walks every test module
under ``tests/`` (``test_*.py`` and ``*_test.py``, as pytest collects them) and fails naming each
test function or ``Test*`` method whose body neither asserts nor calls something that does.

Asserting means: an ``assert`` statement, ``raise AssertionError``, a call to ``pytest.raises`` /
``pytest.warns`` / ``pytest.deprecated_call`` / ``pytest.fail``, or a call to a helper that
asserts, followed transitively: a function nested in the test or of the same module, a method of
the same class (``self.helper()``), or a function imported from another test-suite module
(``tests.*``, a ``conftest.py``, or a support module beside the test that pytest puts on
``sys.path``). A call that merely waits or would raise on failure (Playwright's ``wait_for``, a
bare import) is not an assertion: say what is expected.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PYTEST_ASSERTIONS = frozenset({"raises", "warns", "deprecated_call", "fail"})

Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Module:
    """One parsed module: its functions, its classes' methods and what its imported names point at."""

    path: Path
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, dict[str, Function]] = field(default_factory=dict)
    # local name -> (module path, attribute name, or None when the name is the module itself)
    imports: dict[str, tuple[Path, str | None]] = field(default_factory=dict)
    pytest_names: set[str] = field(default_factory=set)  # local names bound to pytest.raises & co.
    pytest_modules: set[str] = field(default_factory=set)  # local names bound to the pytest module


def _module_file(dotted: str, *, near: Path) -> Path | None:
    """The file of a test-suite module named ``dotted``, or None for anything outside the suite."""
    parts = dotted.split(".")
    # tests.* from the repository root; anything else only as a support module beside the test
    # (pytest puts a test's directory on sys.path when it is not in a package)
    base = ROOT.joinpath(*parts) if parts[0] == "tests" else near.parent.joinpath(*parts)
    for file in (base.with_suffix(".py"), base / "__init__.py"):
        if file.is_file():
            return file
    return None


def _relative_base(path: Path, level: int) -> str | None:
    package = path.parent
    for _ in range(level - 1):
        package = package.parent
    try:
        return ".".join(package.relative_to(ROOT).parts)
    except ValueError:
        return None


class Suite:
    """The test-suite modules, parsed once each, and which of their functions assert."""

    def __init__(self) -> None:
        self._modules: dict[Path, Module] = {}
        self._asserting: set[int] = set()  # id() of functions known to assert
        self._silent: set[int] = set()  # ... known not to
        self._visiting: dict[int, int] = {}  # ... being walked, and at what depth

    def module(self, path: Path) -> Module:
        if path not in self._modules:
            self._modules[path] = self._parse(path)
        return self._modules[path]

    def _parse(self, path: Path) -> Module:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = Module(path)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                module.classes[node.name] = {
                    item.name: item for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "pytest":
                        module.pytest_modules.add(alias.asname or "pytest")
                    elif alias.asname and (file := _module_file(alias.name, near=path)):
                        module.imports[alias.asname] = (file, None)
            elif isinstance(node, ast.ImportFrom):
                dotted = node.module or ""
                if node.level:
                    base = _relative_base(path, node.level)
                    if base is None:
                        continue
                    dotted = f"{base}.{dotted}" if dotted else base
                for alias in node.names:
                    local = alias.asname or alias.name
                    if dotted == "pytest":
                        if alias.name in PYTEST_ASSERTIONS:
                            module.pytest_names.add(local)
                    elif file := _module_file(f"{dotted}.{alias.name}", near=path):
                        module.imports[local] = (file, None)
                    elif file := _module_file(dotted, near=path):
                        module.imports[local] = (file, alias.name)
        return module

    def _resolve(self, module: Module, name: str, seen: frozenset[tuple[Path, str]] = frozenset(),
                 ) -> tuple[Module, Function] | None:
        """The function a module-level name refers to, following re-exports."""
        if (module.path, name) in seen:
            return None
        if name in module.functions:
            return module, module.functions[name]
        if name in module.imports:
            file, attribute = module.imports[name]
            if attribute is not None:
                return self._resolve(self.module(file), attribute, seen | {(module.path, name)})
        return None

    def _callee(self, module: Module, cls: str | None, call: ast.Call) -> tuple[Module, Function] | None:
        func = call.func
        if isinstance(func, ast.Name):
            return self._resolve(module, func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in {"self", "cls"} and cls is not None:
                method = module.classes.get(cls, {}).get(func.attr)
                return (module, method) if method is not None else None
            if owner in module.classes:  # ClassName.helper(...)
                method = module.classes[owner].get(func.attr)
                return (module, method) if method is not None else None
            if owner in module.imports:
                file, attribute = module.imports[owner]
                if attribute is None:  # an imported module: module.helper(...)
                    return self._resolve(self.module(file), func.attr)
        return None

    def _is_pytest_assertion(self, module: Module, call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in module.pytest_names
        return (isinstance(func, ast.Attribute) and func.attr in PYTEST_ASSERTIONS
                and isinstance(func.value, ast.Name) and func.value.id in module.pytest_modules)

    def asserts(self, module: Module, cls: str | None, function: Function) -> bool:
        """True when ``function``'s body asserts, itself or through a helper it calls.

        A function nested in the body counts only where the body calls it by name.
        """
        return self._walk(module, cls, function)[0]

    def _walk(self, module: Module, cls: str | None, function: Function) -> tuple[bool, float]:
        """``(asserts, depth)``: depth is that of the shallowest function still being walked
        that this answer leaned on (a recursion), or infinity; a "no" is final, and cached,
        only when it leaned on nothing shallower than ``function`` itself."""
        key = id(function)
        if key in self._asserting:
            return True, math.inf
        if key in self._silent:
            return False, math.inf
        if key in self._visiting:
            return False, self._visiting[key]
        depth = self._visiting[key] = len(self._visiting)
        low = math.inf
        nested: dict[str, Function] = {}
        calls: list[ast.Call] = []
        found = False
        for node in _own_nodes(function):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                nested[node.name] = node
            elif isinstance(node, ast.Assert) or _raises_assertion_error(node):
                found = True
            elif isinstance(node, ast.Call):
                calls.append(node)
        for call in calls:
            if found:
                break
            if self._is_pytest_assertion(module, call):
                found = True
                break
            if isinstance(call.func, ast.Name) and call.func.id in nested:
                found, reached = self._walk(module, cls, nested[call.func.id])
            elif callee := self._callee(module, cls, call):
                owner, helper = callee
                found, reached = self._walk(owner, cls if owner is module else None, helper)
            else:
                continue
            low = min(low, reached)
        del self._visiting[key]
        if found:
            self._asserting.add(key)
            return True, math.inf
        if low >= depth:
            self._silent.add(key)
            return False, math.inf
        return False, low


def _own_nodes(function: Function) -> list[ast.AST]:
    """The nodes of ``function``'s body, stopping at (but including) nested functions and classes."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [*function.body]
    while stack:
        node = stack.pop()
        out.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return out


def _raises_assertion_error(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "AssertionError"


def collected_modules() -> list[Path]:
    return sorted({*TESTS.rglob("test_*.py"), *TESTS.rglob("*_test.py")})


def silent_tests(paths: list[Path]) -> list[str]:
    """``file::name`` of each collected-looking test in ``paths`` that asserts nothing."""
    suite = Suite()
    offenders = []
    for path in paths:
        module = suite.module(path)
        where = path.relative_to(ROOT).as_posix() if ROOT in path.parents else path.name
        for name, function in module.functions.items():
            if name.startswith("test") and not suite.asserts(module, None, function):
                offenders.append(f"{where}::{name}")
        for cls, methods in module.classes.items():
            if not cls.startswith("Test"):
                continue
            for name, method in methods.items():
                if name.startswith("test") and not suite.asserts(module, cls, method):
                    offenders.append(f"{where}::{cls}::{name}")
    return offenders


def test_every_test_asserts() -> None:
    offenders = silent_tests(collected_modules())
    assert not offenders, "tests that assert nothing:\n" + "\n".join(offenders)


SAMPLE_SUPPORT = """
def expect_even(x):
    assert x % 2 == 0, x

def log(x):
    print(x)
"""

SAMPLE = """
import pytest
from hypothesis import given, strategies as st
from pytest import raises as expect_raises
from sample_support import expect_even, log
import sample_support as support

def check(x):
    assert x

def indirect(x):
    check(x)

def quiet(x):
    return x

def loop(x):
    return loop(x - 1) if x else quiet(x)

def ping(x):
    return pong(x - 1) if x else None

def pong(x):
    assert x >= 0
    return ping(x)

def test_assert():
    assert 1

def test_raises():
    with pytest.raises(ValueError):
        int("x")

def test_raises_alias():
    with expect_raises(ValueError):
        int("x")

def test_fail():
    pytest.fail("no")

def test_raise_assertion_error():
    raise AssertionError("no")

def test_helper():
    indirect(1)

def test_mutual_recursion():
    ping(3)

def test_mutual_recursion_again():
    pong(3)

async def test_async_helper():
    check(1)

@given(st.integers())
def test_hypothesis_helper(x):
    expect_even(2 * x)

def test_support_module():
    support.expect_even(2)

def test_nested_called():
    def inner():
        assert 1
    inner()

def test_nothing():
    quiet(1)

def test_support_nothing():
    log(2)

async def test_async_nothing():
    quiet(1)

def test_recursion_nothing():
    loop(3)

def test_skip_only():
    pytest.skip("x")

def test_nested_never_called():
    def inner():
        assert 1

@given(st.integers())
def test_hypothesis_nothing(x):
    try:
        int(x)
    except ValueError:
        pass

class TestThing:
    def _check(self, x):
        assert x

    def test_method(self):
        self._check(1)

    def test_method_nothing(self):
        self.quiet = 1
"""


def test_checker_flags_silent_tests(tmp_path: Path) -> None:
    """The checker itself: what counts as asserting, and that it names what does not."""
    (tmp_path / "sample_support.py").write_text(SAMPLE_SUPPORT, encoding="utf-8")
    sample = tmp_path / "test_sample.py"
    sample.write_text(SAMPLE, encoding="utf-8")
    assert silent_tests([sample]) == [
        "test_sample.py::test_nothing",
        "test_sample.py::test_support_nothing",
        "test_sample.py::test_async_nothing",
        "test_sample.py::test_recursion_nothing",
        "test_sample.py::test_skip_only",
        "test_sample.py::test_nested_never_called",
        "test_sample.py::test_hypothesis_nothing",
        "test_sample.py::TestThing::test_method_nothing",
    ]
