"""Declared types: what a slot (parameter, field, element) expects, parsed once.

Why: a GWT stream is untyped — ``0`` may be null, false, int 0 or a null String — so every read
and write is driven by the declared type of the slot. Names arrive in several spellings (JNI
letters on the wire, Java names in schema files, ``name/CRC`` signatures); they all end up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from scraper.errors import SchemaError

#: Java primitive name → JNI letter
PRIMITIVES: dict[str, str] = {
    "boolean": "Z", "byte": "B", "char": "C", "double": "D",
    "float": "F", "int": "I", "long": "J", "short": "S",
}
JNI_TO_JAVA = {v: k for k, v in PRIMITIVES.items()}
STRING = "java.lang.String"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A parsed declared type.

    ``kind`` is a JNI letter for primitives, ``"string"`` for a declared ``java.lang.String``
    (travels as a bare string index, not an object), or ``"object"`` (an object reference).
    ``class_name`` is the binary class name for objects (JVM form ``[I`` for arrays).
    """

    kind: str
    class_name: str | None = None

    @property
    def is_array(self) -> bool:
        return self.class_name is not None and self.class_name.startswith("[")

    @property
    def java_name(self) -> str:
        if self.kind == "string":
            return STRING
        if self.kind != "object":
            return JNI_TO_JAVA[self.kind]
        assert self.class_name is not None
        return self.class_name


def strip_crc(name: str) -> str:
    """``java.lang.Long/4227064769`` → ``java.lang.Long`` (leaves names without a CRC alone)."""
    head, sep, tail = name.rpartition("/")
    if sep and tail.isdigit():
        return head
    return name


def _java_array_to_jvm(name: str) -> str:
    depth = 0
    while name.endswith("[]"):
        name = name[:-2]
        depth += 1
    if name in PRIMITIVES:
        element = PRIMITIVES[name]
    else:
        element = f"L{name};"
    return "[" * depth + element


@lru_cache(maxsize=4096)
def parse_type(name: str) -> TypeRef:
    """Parse any spelling of a declared type: ``int``, ``I``, ``java.lang.Long/4227064769``,
    ``java.lang.String[]``, ``[Ljava.lang.String;``."""
    if not isinstance(name, str) or not name:
        raise SchemaError(f"not a type name: {name!r}")
    bare = strip_crc(name)
    if bare in PRIMITIVES:
        return TypeRef(PRIMITIVES[bare])
    if len(bare) == 1 and bare in JNI_TO_JAVA:
        return TypeRef(bare)
    if bare == STRING:
        return TypeRef("string")
    if bare.endswith("[]"):
        return TypeRef("object", _java_array_to_jvm(bare))
    if bare.startswith("["):
        component_type(bare)  # validates
        return TypeRef("object", bare)
    if any(c in bare for c in " |;[]") and not bare.startswith("["):
        raise SchemaError(f"not a type name: {name!r}")
    return TypeRef("object", bare)


@lru_cache(maxsize=1024)
def component_type(array_class: str) -> TypeRef:
    """Component of a JVM array name: ``[I`` → int, ``[Ljava.lang.String;`` → String."""
    if not array_class.startswith("[") or len(array_class) < 2:
        raise SchemaError(f"not an array class: {array_class!r}")
    rest = array_class[1:]
    if rest.startswith("["):
        component_type(rest)
        return TypeRef("object", rest)
    if len(rest) == 1 and rest in JNI_TO_JAVA:
        return TypeRef(rest)
    if rest.startswith("L") and rest.endswith(";") and len(rest) > 2:
        return parse_type(rest[1:-1])
    raise SchemaError(f"not an array class: {array_class!r}")


OBJECT = TypeRef("object", "java.lang.Object")
