"""Type-signature CRCs, computed the way GWT does.

Why: the sandbox's own reconstructed classes and GWT's built-in serializers need signatures that a
genuine GWT server would compute; a closed application's CRCs cannot be computed when its field
names are unknown, and are taken from captures instead.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

_STOP = frozenset(
    f"java.lang.{n}"
    for n in (
        "Boolean", "Byte", "Character", "Double", "Exception", "Float",
        "Integer", "Long", "Object", "Short", "String", "Throwable",
    )
)
_CUSTOM_BASE = ("com.google.gwt.user.client.rpc.CustomFieldSerializer", "java.lang.Object")


def crc_of(parts: Iterable[str]) -> int:
    """One running CRC-32 over the UTF-8 bytes of ``parts``, with no separators."""
    value = 0
    for part in parts:
        value = zlib.crc32(part.encode("utf-8"), value)
    return value


def custom_serialized_crc(class_name: str) -> int:
    """CRC of a JRE class that GWT serializes with ``core.<pkg>.<Class>_CustomFieldSerializer``."""
    if class_name in _STOP:
        return crc_of([class_name])
    package, _, simple = class_name.rpartition(".")
    serializer = f"com.google.gwt.user.client.rpc.core.{package}.{simple}_CustomFieldSerializer"
    return crc_of([class_name, serializer, *_CUSTOM_BASE])


def class_crc(class_name: str, fields: Iterable[tuple[str, str]], superclasses: Iterable[str]) -> int:
    """CRC of a field-serialized class from its own fields (name, JNI-or-binary type name).

    ``superclasses`` lists the chain upwards with their own field parts already flattened by the
    caller when needed; plain names here mean "a superclass without fields".
    """
    parts = [class_name]
    for name, type_name in fields:
        parts += [name, type_name]
    parts.extend(superclasses)
    return crc_of(parts)


def enum_crc(class_name: str, constants: Iterable[str]) -> int:
    """CRC of an enum: its name then every constant name in ordinal order."""
    return crc_of([class_name, *constants])
