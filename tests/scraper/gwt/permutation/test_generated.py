"""Derivation from whole generated permutations equals the classes they were compiled from.

The sandbox's GWT compiler stand-in (fixtures/sandbox/gwtc) and the deriver were written apart;
here the one's output is fed to the other: every sandbox build in both output styles, and random
class graphs compiled with random shape options (the property test).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.gwt.permutation import DerivedBuild, derive_permutation
from scraper.gwt.permutation.model import NUMERIC_KINDS
from vats_fixtures.sandbox import classes
from vats_fixtures.sandbox.gwtc import Options, compile_permutation, type_sets
from vats_fixtures.sandbox.javamodel import (
    PRIMITIVES,
    Field,
    JavaClass,
    JavaEnum,
    Method,
    Module,
    Service,
    erasure,
    jvm_name,
)

_NUMERIC_JAVA = {"byte", "short", "int", "char", "float", "double"}


def expected_kind(java_type: str) -> str:
    name = erasure(java_type)
    if name in ("boolean", "long"):
        return name
    if name in _NUMERIC_JAVA:
        return name
    if name == "java.lang.String":
        return "String"
    return "Object"


def kind_agrees(java_kind: str, derived: str, *, pruned: bool = False) -> bool:
    """Exact, or ``numeric`` where the compiled readers cannot tell numeric kinds apart — and
    for a boolean the client never reads: GWT keeps the bare read ``a.c[--a.b];`` without the
    ``!!`` (the wire value, 0 or 1, still decodes)."""
    if derived == java_kind:
        return True
    collapsed = java_kind in _NUMERIC_JAVA or (pruned and java_kind == "boolean")
    return collapsed and derived == "numeric" and derived in NUMERIC_KINDS


def flat_java_fields(module: Module, name: str) -> list[Field]:
    out: list[Field] = []
    for cls_name in [name, *module.ancestors(name)]:
        cls = module.lookup(cls_name)
        if isinstance(cls, JavaClass):
            out.extend(cls.fields)
    return out


def assert_derives_to_source(module: Module, build: DerivedBuild, *, pretty: bool,
          pruned: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Every table type of every service, and every service, as the module declares them."""
    by_signature = {t.signature: t for t in build.types.values()}
    for service in module.services:
        sets = type_sets(module, service)
        for name in sets.table_types():
            declared = module.lookup(erasure(name))
            signature = module.signature(name)
            assert signature in by_signature, f"{signature} not derived"
            derived = by_signature[signature]
            if isinstance(declared, JavaEnum):
                assert derived.form == "enum", signature
            elif name.endswith("[]"):
                assert derived.form == "array", signature
            elif isinstance(declared, JavaClass) and declared.name in module.signatures:
                assert derived.form == "class", (signature, derived.note)
                java = flat_java_fields(module, declared.name)
                slots = build.flat_fields(derived.name)
                assert len(slots) == len(java), (signature, slots, java)
                owners = [declared.name, *module.ancestors(declared.name)]
                pruned_names = {f for c, f in pruned if c in owners}
                for f, slot in zip(java, slots, strict=True):
                    assert kind_agrees(expected_kind(f.java_type), slot.kind,
                                       pruned=f.name in pruned_names), (signature, f, slot)
                    if pretty and (declared.name, f.name) not in pruned and slot.name is not None:
                        assert slot.name == f.name, (signature, f, slot)
        svc = build.service(service.path)
        assert svc is not None, service.path
        assert (svc.interface, svc.policy) == (service.interface, service.policy_strong_name)
        got = {m.name: m.params for m in svc.methods}
        for method in service.methods:
            want = tuple(module.signature(erasure(p)) if erasure(p) in sets.all_types
                         else jvm_name(erasure(p)) for p in method.params)
            assert got.get(method.name) == want, (service.path, method.name, got)


@pytest.mark.parametrize("build_name", ["older", "newer", "drift"])
@pytest.mark.parametrize("style", ["OBF", "PRETTY"])
def test_every_sandbox_build_derives_to_its_source_classes(build_name, style):
    module = classes.module(build_name)
    compiled = compile_permutation(module, style=style, seed=f"test:{build_name}:{style}")
    build = derive_permutation(compiled.js)
    assert build.style == style and build.gwt_version == "2.7.0"
    assert_derives_to_source(module, build, pretty=style == "PRETTY",
                             pruned=frozenset(compiled.pruned_fields))
    if style == "OBF":
        assert [(t.name, s) for t in build.types.values() for s in t.fields if s.name is not None] == []


# --- random class graphs ----------------------------------------------------------------------

_SCALARS = ["boolean", "byte", "char", "short", "int", "long", "float", "double",
            "java.lang.String", "java.lang.Long", "java.lang.Integer", "java.lang.Boolean",
            "java.lang.Double", "int[]", "java.lang.String[]"]
_IDENT = st.from_regex(r"[a-z][a-zA-Z0-9]{0,7}", fullmatch=True)


@st.composite
def modules(draw: st.DrawFn) -> Module:
    enums = [JavaEnum(f"p.gen.E{i}", tuple(f"C{j}" for j in range(draw(st.integers(1, 5)))))
             for i in range(draw(st.integers(0, 2)))]
    declared: list[JavaClass] = []
    for i in range(draw(st.integers(1, 7))):
        names = draw(st.lists(_IDENT, min_size=0, max_size=6, unique=True))
        choices = _SCALARS + [e.name for e in enums] + [c.name for c in declared] + [
            f"java.util.ArrayList<{c.name}>" for c in declared]
        fields = tuple(Field(n, draw(st.sampled_from(choices))) for n in names)
        parents = [c.name for c in declared]
        superclass = draw(st.sampled_from([None, *parents])) if parents else None
        abstract = bool(parents) and draw(st.booleans()) and i < 3
        declared.append(JavaClass(f"p.gen.K{i}", fields, superclass, abstract=abstract))
    if all(c.abstract for c in declared):  # a service needs a concrete class to exchange
        last = declared[-1]
        declared[-1] = JavaClass(last.name, last.fields, last.superclass)
    concrete = [c.name for c in declared if not c.abstract]
    services = []
    for s in range(draw(st.integers(1, 2))):
        methods = []
        for m in range(draw(st.integers(1, 3))):
            params = tuple(draw(st.lists(st.sampled_from(
                [*concrete, "int", "java.lang.String", "java.lang.Long", "boolean"]),
                max_size=3)))
            returns = draw(st.sampled_from([*concrete, "void", "java.lang.String"]))
            methods.append(Method(f"m{m}", params, returns))
        services.append(Service(f"Svc{s}GwtService", f"p.gen.Svc{s}Service",
                                f"{s:032X}"[-32:].replace("0", "A"), tuple(methods)))
    return Module("gen", (*enums, *declared), tuple(services))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(module=modules(), seed=st.integers(0, 10**6), style=st.sampled_from(["OBF", "PRETTY"]))
def test_random_class_graphs_derive_to_their_source(module, seed, style):
    fields = [(c.name, f.name) for c in module.classes if isinstance(c, JavaClass)
              for f in c.fields]
    options = Options.randomized(str(seed), fields)
    compiled = compile_permutation(module, style=style, seed=str(seed), options=options)
    build = derive_permutation(compiled.js)
    assert_derives_to_source(module, build, pretty=style == "PRETTY",
                             pruned=frozenset(compiled.pruned_fields))


def test_primitive_kinds_map():
    assert {expected_kind(p) for p in PRIMITIVES} == {
        "boolean", "byte", "char", "short", "int", "long", "float", "double"}


_OLDER_OBF = None


def _older_obf() -> str:
    global _OLDER_OBF  # noqa: PLW0603 - compiled once for the fuzz tests
    if _OLDER_OBF is None:
        _OLDER_OBF = compile_permutation(classes.module("older"), style="OBF", seed="fuzz").js
    return _OLDER_OBF


@settings(max_examples=40, deadline=5000)
@given(cut=st.floats(0.0, 1.0), junk=st.binary(max_size=64))
def test_truncated_or_corrupted_permutations_give_a_typed_error_or_a_build(cut, junk):
    """Never a crash, never a hang (the deadline): a typed PermutationError or what could be
    derived from what is there."""
    from scraper.errors import PermutationError

    text = _older_obf()
    at = int(len(text) * cut)
    broken = text[:at] + junk.decode("latin-1") + text[at + len(junk):]
    try:
        build = derive_permutation(broken[: at + len(junk)] if cut < 0.5 else broken)
    except PermutationError as exc:
        assert exc.reason in ("empty", "no-type-table")
    else:
        assert isinstance(build, DerivedBuild)
