"""Service proxies: servlet path, policy strong name, interface and each method's parameters.

GWT's ProxyCreator gives every service a constructor that passes the relative path and the
policy strong name side by side (``…,'DispatcherGwtService','EAA4…',…``), and every method a
body that names ``'<Iface>_Proxy'`` and the method, then writes the interface name, the
parameter count and each parameter's type signature — constant strings, in that order, whatever
the minifier did to the names around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import JsIndex, text, walk
from scraper.gwt.permutation.model import DerivedMethod, DerivedService

_HEX32 = re.compile(r"^[0-9A-F]{32}$")
_HEX32_BYTES = re.compile(rb"[0-9A-F]{32}")
_PROXY_BYTES = re.compile(rb"_Proxy['\"]")
_PATH = re.compile(r"^[A-Za-z_][\w./-]*$")
_JAVA_NAME = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_PARAM = re.compile(r"^(?:[ZBCDFIJS]|\[+(?:L[\w$.]+;|[ZBCDFIJS])(?:/\d+)?"
                    r"|[A-Za-z_$][\w$]*(?:\.[\w$]+)+(?:/\d+)?)$")
_FUNCTIONS = ("function_declaration", "function_expression", "arrow_function", "method_definition")


@dataclass(frozen=True, slots=True)
class _Site:
    path: str
    policy: str
    offset: int


@dataclass(frozen=True, slots=True)
class _MethodSite:
    proxy: str  # ``DispatcherService_Proxy``
    interface: str | None
    method: DerivedMethod
    offset: int


def _node_at(root: Node, start: int, end: int) -> Node | None:
    """The smallest node that covers ``source[start:end]``."""
    node = root.descendant_for_byte_range(start, start)
    while node is not None and node.end_byte < end:
        node = node.parent
    return node


def _nodes_at(root: Node, pattern: re.Pattern[bytes], source: bytes) -> list[Node]:
    out = []
    for match in pattern.finditer(source):
        node = _node_at(root, match.start(), match.end())
        while node is not None and node.type not in ("string", "program"):
            node = node.parent
        if node is not None and node.type == "string":
            out.append(node)
    return out


def _string_uses(index: JsIndex, root: Node, source: bytes, wanted: re.Pattern[str]) -> list[Node]:
    """Expressions whose constant value matches ``wanted``: literals, and identifiers of
    interned strings (found by name in the source, then checked in the tree)."""
    names = [name for name, value in index.strings.items() if wanted.search(value)]
    found: list[Node] = []
    for name in names:
        for match in re.finditer(rb"(?<![\w$])" + re.escape(name.encode()) + rb"(?![\w$])", source):
            node = _node_at(root, match.start(), match.end())
            if node is not None and node.type == "identifier" and node.parent is not None and \
                    node.parent.type != "variable_declarator":
                found.append(node)
    return found


def _service_sites(index: JsIndex, root: Node, source: bytes) -> list[_Site]:
    sites: dict[tuple[str, str], _Site] = {}
    candidates = _nodes_at(root, _HEX32_BYTES, source) + _string_uses(index, root, source, _HEX32)
    for node in candidates:
        policy = index.string(node)
        previous = node.prev_named_sibling
        if policy is None or not _HEX32.match(policy) or previous is None:
            continue
        if node.parent is None or node.parent.type != "arguments":
            continue
        path = index.string(previous)
        if path is not None and _PATH.match(path) and not _HEX32.match(path):
            sites.setdefault((path, policy), _Site(path, policy, node.start_byte))
    return list(sites.values())


def _enclosing_function(node: Node) -> Node | None:
    current = node.parent
    while current is not None and current.type not in _FUNCTIONS:
        current = current.parent
    return current


def _strings_in(index: JsIndex, fn: Node) -> list[tuple[str, Node]]:
    out = []
    for node in walk(fn):
        if node.type in ("string", "identifier") and (
                node.parent is None or node.parent.type != "variable_declarator"):
            value = index.string(node)
            if value is not None:
                out.append((value, node))
    return out


def _count_after(node: Node) -> int | None:
    """The parameter count GWT writes right after the interface name (``start(iface, 2)``)."""
    sibling = node.next_named_sibling
    if sibling is not None and sibling.type == "number":
        try:
            return int(text(sibling))
        except ValueError:
            return None
    return None


def _method_site(index: JsIndex, proxy_node: Node) -> _MethodSite | None:
    proxy = index.string(proxy_node)
    fn = _enclosing_function(proxy_node)
    if proxy is None or fn is None:
        return None
    strings = [(v, n) for v, n in _strings_in(index, fn) if n.start_byte >= proxy_node.start_byte]
    if len(strings) < 2 or strings[0][1].id != proxy_node.id:
        return None
    method = strings[1][0]
    if not re.match(r"^[A-Za-z_$][\w$]*$", method):
        return None
    interface, count, params = None, None, []
    for value, node in strings[2:]:
        if interface is None:
            if _JAVA_NAME.match(value) and "/" not in value:
                interface, count = value, _count_after(node)
            continue
        if _PARAM.match(value):
            params.append(value)
            if count is not None and len(params) == count:
                break
    if count is not None and len(params) != count:
        return None
    return _MethodSite(proxy, interface, DerivedMethod(method, tuple(params)), proxy_node.start_byte)


def find_services(index: JsIndex, sources: list[bytes]) -> list[DerivedService]:
    """Every service proxy with its methods, linked to its servlet path where possible."""
    sites: list[_Site] = []
    methods: list[_MethodSite] = []
    for root, source in zip(index.roots, sources, strict=True):
        sites += _service_sites(index, root, source)
        proxy_nodes = _nodes_at(root, _PROXY_BYTES, source) + _string_uses(
            index, root, source, re.compile(r"_Proxy$"))
        for node in proxy_nodes:
            site = _method_site(index, node)
            if site is not None:
                methods.append(site)
    return _link(sites, methods)


def _stem(name: str) -> str:
    simple = name.rsplit(".", 1)[-1].rsplit("$", 1)[-1]
    for word in ("Async", "Service", "Gwt", "Rpc", "Remote"):
        simple = simple.replace(word, "")
    return simple.lower()


def _link(sites: list[_Site], methods: list[_MethodSite]) -> list[DerivedService]:
    by_proxy: dict[str, list[_MethodSite]] = {}
    for site in methods:
        by_proxy.setdefault(site.proxy, []).append(site)
    services: list[DerivedService] = []
    free = list(sites)
    pending: list[tuple[str, list[_MethodSite]]] = []
    for proxy, group in by_proxy.items():
        simple = proxy.removesuffix("_Proxy")
        match = next((s for s in free if s.path == simple.rsplit("_", 1)[-1]), None) or next(
            (s for s in free if _stem(s.path) == _stem(simple)), None)
        if match is None:
            pending.append((proxy, group))
            continue
        free.remove(match)
        services.append(_service(group, match, "name"))
    for proxy, group in pending:
        if free:
            nearest = min(free, key=lambda s: min(abs(s.offset - m.offset) for m in group))
            free.remove(nearest)
            services.append(_service(group, nearest, "position"))
        else:
            services.append(_service(group, None, None))
            del proxy
    services += [DerivedService(None, s.path, s.policy) for s in free]
    return services


def _service(group: list[_MethodSite], site: _Site | None, how: str | None) -> DerivedService:
    interface = next((m.interface for m in group if m.interface), None)
    seen: dict[tuple[str, tuple[str, ...]], DerivedMethod] = {}
    for m in sorted(group, key=lambda m: m.offset):
        seen.setdefault((m.method.name, m.method.params), m.method)
    return DerivedService(interface, site.path if site else None, site.policy if site else None,
                          tuple(seen.values()), how)
