"""What a GWT app's bootstrap files reveal: permutations, service proxies, type signatures.

Why regexes over literals and never over variable names: minified names change with every
build (a public client's ``bc='(\\w{32})'`` broke that way); string literals and their adjacency
are what GWT's generator guarantees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX32 = r"[0-9A-F]{32}"
_STRONG = re.compile(rf"(['\"])({_HEX32})\1")
_KEYLIST = re.compile(
    rf"\(\s*\[((?:\s*['\"][\w.-]+['\"]\s*,?)+)\]\s*,\s*(['\"])({_HEX32})(?::\d+)?\2"
)
# a data table of [property value, strong name] pairs, as some linkers and minifiers emit
_PAIR = re.compile(rf"\[\s*(['\"])([\w.-]+)\1\s*,\s*(['\"])({_HEX32})\3\s*\]")
_PROXY = re.compile(rf"(['\"])([A-Za-z_][\w./-]*)\1\s*,\s*(['\"])({_HEX32})\3")
_SIGNATURE = re.compile(r"(['\"])((?:\[+L?)?[A-Za-z_$][\w$]*(?:\.[\w$]+)+;?)/(\d{1,10})\1")


@dataclass(frozen=True, slots=True)
class Permutation:
    """A permutation strong name and the property values it was registered for (if readable)."""

    strong_name: str
    properties: tuple[str, ...] = ()


def discover_permutations(nocache_js: str) -> list[Permutation]:
    """Every permutation strong name a ``*.nocache.js`` can choose, in order of appearance.

    When the script registers permutations per property value (``unflattenKeylistIntoAnswers``
    or any call shaped ``(['safari', ...], 'HEX')``, or a table of ``['safari', 'HEX']`` pairs),
    those values are attached — also when GWT's printer interned the literals into variables
    (``var Lb='safari',bc='4F3A…'; … Yb([Lb],bc)``), which only a parser can follow.
    """
    found: dict[str, tuple[str, ...]] = {}
    for strong, values in _registrations(nocache_js):
        found[strong] = found.get(strong, ()) + values
    for match in _KEYLIST.finditer(nocache_js):
        values = tuple(re.findall(r"['\"]([\w.-]+)['\"]", match.group(1)))
        found.setdefault(match.group(3), ())
        found[match.group(3)] = found[match.group(3)] + values
    for match in _PAIR.finditer(nocache_js):
        found[match.group(4)] = found.get(match.group(4), ()) + (match.group(2),)
    for match in _STRONG.finditer(nocache_js):
        found.setdefault(match.group(2), ())
    return [Permutation(name, props) for name, props in found.items()]


def choose_permutation(permutations: list[Permutation], user_agent_key: str = "safari") -> str | None:
    """The permutation registered for ``user_agent_key`` (``safari`` = Chrome/Edge), else the
    only one, else None (the caller then tries each until the cache.js holds the services)."""
    for perm in permutations:
        if user_agent_key in perm.properties:
            return perm.strong_name
    return permutations[0].strong_name if len(permutations) == 1 else None


def discover_services(cache_js: str) -> dict[str, str]:
    """Service proxies of a ``<PERMUTATION>.cache.js``: relative path → policy strong name."""
    services: dict[str, str] = {}
    for match in _PROXY.finditer(cache_js):
        services.setdefault(match.group(2), match.group(4))
    return services


def discover_signatures(cache_js: str) -> dict[str, str]:
    """Type signatures quoted in a cache.js: binary class name → ``name/CRC`` (newest wins)."""
    signatures: dict[str, str] = {}
    for match in _SIGNATURE.finditer(cache_js):
        signatures[match.group(2)] = f"{match.group(2)}/{match.group(3)}"
    return signatures


def _registrations(nocache_js: str) -> list[tuple[str, tuple[str, ...]]]:
    """``f([v, …], s)`` calls whose arguments are (interned) constant strings, ``s`` a strong
    name: the property values each permutation is registered for."""
    from scraper.gwt.permutation.jsindex import Program, parse, walk

    data = nocache_js.encode("utf-8", "surrogatepass")
    program = Program(data)
    out: list[tuple[str, tuple[str, ...]]] = []
    for node in walk(parse(data)):
        if node.type != "call_expression":
            continue
        args_node = node.child_by_field_name("arguments")
        args = [a for a in args_node.named_children if a.type != "comment"] if args_node else []
        if len(args) != 2 or args[0].type != "array":
            continue
        strong = program.string(args[1])
        values = [program.string(v) for v in args[0].named_children]
        if strong is None or not re.fullmatch(rf"{_HEX32}(?::\d+)?", strong):
            continue
        out.append((strong.split(":")[0], tuple(v for v in values if v is not None)))
    return out
