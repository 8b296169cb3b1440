"""Service proxies: servlet path, policy strong name, interface and each method's parameters.

What GWT's ProxyCreator emits, and what survives compilation in each era:

- **the constructor** passes the relative path and the policy strong name side by side to
  RemoteServiceProxy's (``….call(this, base, 'Note', '685F…', serializer)``; ``null`` as the path
  when the service sets its URL itself, as JUnitHost does). With a single service, the compiler
  folds both into RemoteServiceProxy's constructor (2.10: ``this.b=a+'stockPrices';
  this.d='9B51…'``).
- **each method** names the proxy and the method, then writes the interface name, the
  parameter count and each parameter's type signature — constant strings and numbers, in that
  order: ``new ServiceHelper(this, 'X_Proxy', 'm')`` + ``start('pkg.X', 2)`` (2.4+); the
  statistics name ``'X_Proxy.m'`` and the count as a string (``'1'``, 2.0–2.3); or, folded with a
  single service, ``new Helper(this, 'm')`` whose constructor holds ``'X_Proxy.'+m`` and whose
  ``start`` holds the interface (2.10).

A method's proxy name is tied to a constructor's path by what genuinely ties them in the
program, never by position (``linked_by``):

- ``class-literal``: the proxy class's literal is created with the proxy's name
  (``Y_c(pkg,'X_Proxy')``, ``ot(pkg,'X_Proxy',104)``), and the constructor that passes the path
  is that class's: its prototype's ``getClass`` returns the literal (to 2.7), or
  ``defineClass(104, …, ctor)`` names it by the literal's type id (2.8+);
- ``pretty-name``: PRETTY output keeps the constructor's name (``$X_Proxy``);
- ``single``: one constructor and one proxy in the whole program;
- ``name``: the path and the interface share their stem (``StockRpcService`` ↔
  ``StockService``), one candidate each way.

Anything else stays unlinked: a service with methods but no path, a path with no methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from scraper.gwt.permutation.jsindex import FUNCTION_TYPES, Program, text, walk
from scraper.gwt.permutation.model import DerivedMethod, DerivedService
from scraper.gwt.permutation.streams import _args, _flat_sequence, _strip, _unparen

_HEX32 = re.compile(r"^[0-9A-F]{32}$")
_POLICY_LITERALS = (re.compile(rb"'[0-9A-F]{32}'"), re.compile(rb'"[0-9A-F]{32}"'))
_PROXY_MARK = re.compile(rb"_Proxy(?:\.[\w$]*)?(['\"])")
_PROXY_NAME = re.compile(rb"[\w$]+")
_PROXY_VALUE = re.compile(r"^[\w$]+_Proxy(?:\.[\w$]*)?$")
_PROTOTYPE = re.compile(rb"([\w$]+)\.prototype\s*=")
_PATH = re.compile(r"^(?:\.\.?/)*[A-Za-z_][\w./-]*$")
_JAVA_NAME = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_METHOD_NAME = re.compile(r"^[A-Za-z_$][\w$]*$")
_PARAM = re.compile(r"^(?:[ZBCDFIJS]|\[+(?:L[\w$.]+;|[ZBCDFIJS])(?:/\d+)?"
                    r"|[A-Za-z_$][\w$]*(?:\.[\w$]+)+(?:/\d+)?)$")
#: subtrees that hold no constant of a method's request (member names, the catch clause)
_NO_CONSTANTS = frozenset({"property_identifier", "catch_clause", "object_pattern"})
RESPONSE_KINDS = frozenset({"BOOLEAN", "BYTE", "CHAR", "DOUBLE", "FLOAT", "INT", "LONG",
                            "OBJECT", "SHORT", "STRING", "VOID"})


@dataclass(slots=True)
class _Site:
    """A constructor's call of RemoteServiceProxy's (or the folded assignments)."""

    path: str | None
    policy: str
    ctor: str | None  # the enclosing function's name


@dataclass(frozen=True, slots=True)
class _MethodSite:
    """One proxy method, as its body writes it."""

    proxy: str  # ``DispatcherService_Proxy``
    interface: str | None
    method: DerivedMethod
    offset: int


@dataclass
class _Finder:
    """Constructors, methods and class literals of the proxies in one program."""

    program: Program
    strong_name: str | None
    sites: list[_Site] = field(default_factory=list)
    methods: list[_MethodSite] = field(default_factory=list)
    #: proxy name → the calls that create its class literal (``V=F(pkg,'X_Proxy'[,typeId])``)
    literals: dict[str, list[Node]] = field(default_factory=dict)
    _seen_functions: set[tuple[int, str]] = field(default_factory=set)
    _constant_cache: dict[int, list[tuple[str | int, str, Node]]] = field(default_factory=dict)
    _response_cache: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _sequence_cache: dict[int, list[Node]] = field(default_factory=dict)

    # --- constructors ---------------------------------------------------------------------

    def find_sites(self, uses: dict[str, list[int]], policy_names: set[str]) -> None:
        """Every constructor call that passes a policy strong name (literal or interned)."""
        found: dict[tuple[str | None, str], _Site] = {}
        nodes = [self.program.node_at(m.start(), m.end())
                 for pattern in _POLICY_LITERALS for m in self.program.locate(pattern)]
        nodes += [self.program.node_at(offset, offset + len(name))
                  for name in policy_names for offset in uses.get(name, ())]
        for node in nodes:
            if node is None:
                continue
            site = self._site(node)
            if site is not None:
                found.setdefault((site.path, site.policy), site)
        self.sites = list(found.values())

    def _site(self, node: Node) -> _Site | None:
        policy = self.program.string(node)
        if policy is None or not _HEX32.match(policy) or policy == self.strong_name:
            return None
        argument = _call_wrapped(node)
        parent = argument.parent
        if parent is not None and parent.type == "arguments":
            previous = argument.prev_named_sibling
            if previous is None:
                return None
            previous = _call_wrapped_inner(previous)
            if previous.type == "null":
                path = None
            else:
                path = self.program.string(previous)
                if path is None or not _PATH.match(path) or _HEX32.match(path):
                    return None
            return _Site(path, policy, _function_name(node))
        if parent is not None and parent.type == "assignment_expression" and _is_this_member(
                parent.child_by_field_name("left")):
            return self._folded_site(node, policy)
        return None

    def _folded_site(self, node: Node, policy: str) -> _Site | None:
        """``function fm(a,b){this.a=a;this.b=a+'stockPrices';this.e=b;this.d='9B51…'}``:
        the path is the constant a member gets appended to the module base (a parameter)."""
        fn = _enclosing_function(node)
        if fn is None:
            return None
        params = _params(fn)
        paths = []
        for child in walk(fn):
            if child.type != "assignment_expression" or not _is_this_member(
                    child.child_by_field_name("left")):
                continue
            right = child.child_by_field_name("right")
            if right is None or right.type != "binary_expression":
                continue
            left_operand = right.child_by_field_name("left")
            constant = self.program.string(right.child_by_field_name("right"))
            if (left_operand is not None and left_operand.type == "identifier"
                    and text(left_operand) in params and constant is not None
                    and _PATH.match(constant)):
                paths.append(constant)
        if len(paths) != 1:
            return None
        return _Site(paths[0], policy, _function_name(node))

    # --- methods --------------------------------------------------------------------------

    def find_methods(self, nodes: list[Node]) -> None:
        """Every method (and class literal) among the uses of proxy-name strings."""
        for node in nodes:
            value = self.program.string(node)
            if value is None or not _PROXY_VALUE.match(value):
                continue
            if self._class_literal(node, value):
                continue
            proxy, _, method = value.partition(".")
            if value.endswith("."):  # 'X_Proxy.' + method: the folded helper constructor
                self._folded_helper(node, proxy)
                continue
            fn = _enclosing_function(node)
            if fn is None or (fn.id, proxy) in self._seen_functions:
                continue
            if method:  # 2.0–2.3: 'X_Proxy.m' (statistics and doInvoke)
                site = self._method_site(fn, proxy, method)
            else:  # 2.4+: new ServiceHelper(this, 'X_Proxy', 'm')
                following = _call_wrapped(node).next_named_sibling
                name = self.program.string(following) if following is not None else None
                site = self._method_site(fn, proxy, name) if name else None
            if site is not None:
                self._seen_functions.add((fn.id, proxy))
                self.methods.append(site)

    def _class_literal(self, node: Node, value: str) -> bool:
        """``V = createForClass(pkg, 'X_Proxy'[, typeId])``: remember it; not a method."""
        parent = node.parent
        call = parent.parent if parent is not None and parent.type == "arguments" else None
        if "." in value or call is None or call.type != "call_expression":
            return False
        args = _args(call)
        holder = call.parent
        if len(args) < 2 or args[1] != node or holder is None or holder.type not in (
                "variable_declarator", "assignment_expression"):
            return False
        self.literals.setdefault(value, []).append(call)
        return True

    def _folded_helper(self, node: Node, proxy: str) -> None:
        """2.10, one service: ``function Lo(a,b){…this.a='X_Proxy.'+b…}`` is the helper's
        constructor; each method calls ``new Lo(this, 'm')``."""
        helper = _enclosing_function(node)
        name = _function_name(node)
        if helper is None or name is None:
            return
        pattern = re.compile(rb"new\s+" + re.escape(name.encode()) + rb"\s*\(")
        for match in self.program.locate(pattern):
            call = self.program.node_at(match.start(), match.end())
            if call is None or call.type != "new_expression":
                continue
            args = _args(call)
            method = self.program.string(args[-1]) if args else None
            fn = _enclosing_function(call)
            if method is None or fn is None or (fn.id, proxy) in self._seen_functions:
                continue
            site = self._method_site(fn, proxy, method)
            if site is not None:
                self._seen_functions.add((fn.id, proxy))
                self.methods.append(site)

    def _method_site(self, fn: Node, proxy: str, method: str) -> _MethodSite | None:
        """Interface, count and parameter signatures from the method's constants, in order:
        the interface, then the count (a number in the same call, or — 2.0–2.3 — the string
        after the method's name), then one signature per parameter."""
        if not _METHOD_NAME.match(method):
            return None
        items = self._constants(fn)
        interface, count, after = None, None, 0
        for position, (value, kind, node) in enumerate(items):
            if kind == "str" and _JAVA_NAME.match(str(value)) and not _PROXY_VALUE.match(str(value)):
                interface = str(value)
                nxt = items[position + 1] if position + 1 < len(items) else None
                if nxt is not None and nxt[1] == "num" and _same_call(_call_wrapped(node), nxt[2]):
                    count, after = int(nxt[0]), position + 2
                else:  # 2.0–2.3: the method name, then the count as a string
                    for later in range(position + 1, len(items) - 1):
                        if items[later][0] == method and str(items[later + 1][0]).isdigit():
                            count, after = int(items[later + 1][0]), later + 2
                            break
                break
        if interface is None:
            folded = self._folded_start(fn)
            if folded is None:
                return None
            interface, count, call = folded
            after = next((i for i, item in enumerate(items)
                          if item[2].start_byte >= call.end_byte), len(items))
        if count is None:
            return None
        params = [str(v) for v, kind, _n in items[after:] if kind == "str" and _PARAM.match(str(v))]
        if len(params) < count:
            return None
        returns = self._returns(fn)
        return _MethodSite(proxy, interface,
                           DerivedMethod(method, tuple(params[:count]), returns), fn.start_byte)

    def _folded_start(self, fn: Node) -> tuple[str, int, Node] | None:
        """2.10, one service: ``start(helper, 1)`` holds the interface name itself."""
        for node in walk(fn):
            if node.type != "call_expression":
                continue
            args = _args(node)
            callee = node.child_by_field_name("function")
            if not args or args[-1].type != "number" or callee is None or callee.type != "identifier":
                continue
            start = self.program.function(text(callee))
            if start is None:
                continue
            names = [v for v, kind, _n in self._constants(start.node)
                     if kind == "str" and _JAVA_NAME.match(str(v))]
            if len(names) == 1:
                return str(names[0]), int(text(args[-1])), node
        return None

    def _constants(self, fn: Node) -> list[tuple[str | int, str, Node]]:
        """The constant strings and numbers of a function, in source order — not its locals,
        and not the bookkeeping of emulated stack traces (``Nw[c]='File.java:'+'12'``)."""
        cached = self._constant_cache.get(fn.id)
        if cached is not None:
            return cached
        local = _params(fn) | _declared(fn)
        out: list[tuple[str | int, str, Node]] = []
        sequences: list[Node] = []
        stack = [fn.child_by_field_name("body") or fn]
        while stack:
            node = stack.pop()
            kind = node.type
            if kind == "sequence_expression":
                sequences.append(node)
            if kind == "assignment_expression":
                left = node.child_by_field_name("left")
                if left is not None and left.type == "subscript_expression":
                    continue
            if kind == "string" or (kind == "identifier" and text(node) not in local):
                value = self.program.string(node)
                if value:
                    out.append((value, "str", node))
                continue
            if kind == "number":
                raw = text(node)
                if raw.isdigit():
                    out.append((int(raw), "num", node))
                continue
            if kind in FUNCTION_TYPES or kind in _NO_CONSTANTS:
                continue
            stack.extend(reversed(node.named_children))
        self._constant_cache[fn.id] = out
        self._sequence_cache[fn.id] = sequences
        return out

    def _returns(self, fn: Node) -> str | None:
        """The ResponseReader a method finishes with: ``finish(cb, (clinit(), X))`` where the
        clinit assigns ``X = new K`` and K's constructor names the constant (``'OBJECT',7``)."""
        self._constants(fn)
        for node in self._sequence_cache.get(fn.id, ()):
            if node.parent is None or node.parent.type not in ("arguments",
                                                               "parenthesized_expression"):
                continue
            items = [i for i in (_unparen(n) for n in _flat_sequence(node)) if not _bookkeeping(i)]
            if len(items) != 2 or items[0].type != "call_expression" or _args(items[0]):
                continue
            constant = _strip(items[1])
            callee = items[0].child_by_field_name("function")
            clinit = self.program.function(text(callee)) if callee is not None else None
            if clinit is None or constant.type != "identifier":
                continue
            key = (text(callee) if callee is not None else "", text(constant))
            if key not in self._response_cache:
                self._response_cache[key] = self._response_constant(clinit.node, key[1])
            kind = self._response_cache[key]
            if kind is not None:
                return kind
        return None

    def _response_constant(self, clinit: Node, name: str) -> str | None:
        for node in walk(clinit):
            if node.type != "assignment_expression":
                continue
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is None or right is None or text(left) != name:
                continue
            right = _strip(right)
            names = {str(v) for v, _k, _n in self._constants_of(right) if v in RESPONSE_KINDS}
            if not names and right.type == "new_expression":
                ctor_node = right.child_by_field_name("constructor")
                ctor = self.program.function(text(ctor_node)) if ctor_node is not None else None
                if ctor is not None:
                    names = {str(v) for v, _k, _n in self._constants(ctor.node)
                             if v in RESPONSE_KINDS}
            return names.pop() if len(names) == 1 else None
        return None

    def _constants_of(self, node: Node) -> list[tuple[str | int, str, Node]]:
        return [(v, "str", n) for n in walk(node) if n.type == "string"
                for v in [self.program.string(n)] if v]

    # --- linking --------------------------------------------------------------------------

    def class_literal_ctors(self, proxies: set[str]) -> dict[str, set[str]]:
        """Proxy name → the constructors of the class whose literal carries that name."""
        out: dict[str, set[str]] = {}
        literal_vars: dict[str, str] = {}
        type_ids: dict[int, str] = {}
        for proxy in proxies:
            for call in self.literals.get(proxy, ()):
                holder = call.parent
                target = None
                if holder is not None and holder.type == "variable_declarator":
                    target = holder.child_by_field_name("name")
                elif holder is not None and holder.type == "assignment_expression":
                    target = holder.child_by_field_name("left")
                if target is not None and target.type == "identifier":
                    literal_vars[text(target)] = proxy
                args = _args(call)
                if len(args) >= 3 and args[2].type == "number" and text(args[2]).isdigit():
                    type_ids[int(text(args[2]))] = proxy
        if literal_vars:
            for ctor, literal in self._getclass_literals(set(literal_vars)):
                out.setdefault(literal_vars[literal], set()).add(ctor)
        if type_ids:
            for ctor, type_id in self._defined_classes(set(type_ids)):
                out.setdefault(type_ids[type_id], set()).add(ctor)
        return out

    def _getclass_literals(self, literals: set[str]) -> list[tuple[str, str]]:
        """(constructor, literal) where ``_=C.prototype=…; _.gC=function(){return V}``."""
        names = "|".join(re.escape(n) for n in sorted(literals))
        pattern = re.compile(rb"return\s+(" + names.encode() + rb")\s*[;}]")
        out = []
        for match in self.program.locate(pattern):
            node = self.program.node_at(match.start(1), match.end(1))
            fn = _enclosing_function(node) if node is not None else None
            if fn is None:
                continue
            for ctor in self._prototype_owners(fn):
                out.append((ctor, match.group(1).decode()))
        return out

    def _prototype_owners(self, getter: Node) -> list[str]:
        """The constructors whose prototype a method (or a named getter) is assigned to: the
        ``_=C.prototype=…`` that precedes it among the top-level statements."""
        statement = getter
        if getter.type == "function_declaration":  # PRETTY: _.getClass$ = getClass_50
            return []
        while statement.parent is not None and statement.parent.type != "program":
            statement = statement.parent
        current: Node | None = statement
        while current is not None:
            owners = _prototype_assignment(current)
            if owners:
                return owners
            current = current.prev_named_sibling
        return []

    def _defined_classes(self, type_ids: set[int]) -> list[tuple[str, int]]:
        """(constructor, typeId) of ``defineClass(typeId, superId, castMap, ctor…)`` (2.8+)."""
        ids = "|".join(str(i) for i in sorted(type_ids))
        pattern = re.compile(rb"\(\s*(" + ids.encode() + rb")\s*,")
        out = []
        for match in self.program.locate(pattern):
            node = self.program.node_at(match.start(1), match.end(1))
            call = node.parent.parent if node is not None and node.parent is not None else None
            if call is None or call.type != "call_expression":
                continue
            args = _args(call)
            if len(args) < 4 or args[0] != node or args[2].type != "object":
                continue
            out += [(text(a), int(text(node))) for a in args[3:] if a.type == "identifier"]
        return out


def _prototype_assignment(statement: Node) -> list[str]:
    """``_=C.prototype=D.prototype=new B`` → [C, D]."""
    expr: Node | None = statement.named_children[0] if statement.type == \
        "expression_statement" and statement.named_children else statement
    owners: list[str] = []
    while expr is not None and expr.type == "assignment_expression":
        left = expr.child_by_field_name("left")
        if left is not None and left.type == "member_expression":
            prop = left.child_by_field_name("property")
            obj = left.child_by_field_name("object")
            if prop is not None and text(prop) == "prototype" and obj is not None:
                owners.append(text(obj))
        expr = expr.child_by_field_name("right")
    return owners


def _bookkeeping(node: Node) -> bool:
    """Emulated stack traces' ``Nw[c]='File.java:'+'12'`` between the values."""
    if node.type != "assignment_expression":
        return False
    left = node.child_by_field_name("left")
    return left is not None and left.type == "subscript_expression"


def _call_wrapped(node: Node) -> Node:
    """``soc_g$('9B51…')`` (SuperDevMode keeps such one-argument wrappers): the call."""
    parent = node.parent
    if parent is not None and parent.type == "arguments" and len(parent.named_children) == 1:
        call = parent.parent
        if call is not None and call.type == "call_expression":
            callee = call.child_by_field_name("function")
            if callee is not None and callee.type == "identifier":
                return call
    return node


def _call_wrapped_inner(node: Node) -> Node:
    node = _strip(node)
    if node.type == "call_expression":
        args = _args(node)
        callee = node.child_by_field_name("function")
        if len(args) == 1 and callee is not None and callee.type == "identifier" and \
                args[0].type == "string":
            return args[0]
    return node


def _is_this_member(node: Node | None) -> bool:
    return node is not None and node.type == "member_expression" and \
        (node.child_by_field_name("object") or node).type == "this"


def _same_call(a: Node, b: Node) -> bool:
    return a.parent is not None and b.parent is not None and a.parent.id == b.parent.id


def _enclosing_function(node: Node) -> Node | None:
    current = node.parent
    while current is not None and current.type not in FUNCTION_TYPES:
        current = current.parent
    return current


def _function_name(node: Node) -> str | None:
    """The name a function is known by: its own, or the variable it is assigned to."""
    fn = _enclosing_function(node)
    if fn is None:
        return None
    own = fn.child_by_field_name("name")
    if fn.type == "function_declaration" and own is not None:
        return text(own)
    parent = fn.parent
    if parent is not None and parent.type == "assignment_expression":
        left = parent.child_by_field_name("left")
        if left is not None and left.type == "identifier":
            return text(left)
    return text(own) if own is not None else None


def _params(fn: Node) -> set[str]:
    params = fn.child_by_field_name("parameters")
    return {text(p) for p in params.named_children} if params is not None else set()


def _declared(fn: Node) -> set[str]:
    """The locals a function declares: GWT hoists every ``var`` to the top of the body."""
    out = set()
    body = fn.child_by_field_name("body")
    for statement in body.named_children if body is not None else ():
        if statement.type in ("variable_declaration", "lexical_declaration"):
            for declarator in statement.named_children:
                name = declarator.child_by_field_name("name")
                if name is not None:
                    out.add(text(name))
    return out


def find_services(program: Program, strong_name: str | None) -> list[DerivedService]:
    """Every service proxy with its methods, linked to its servlet path where the program
    ties them."""
    finder = _Finder(program, strong_name)
    policy_names = {n for n, v in program.string_names(_HEX32).items() if v != strong_name}
    proxy_names = set(program.string_names(_PROXY_VALUE))
    uses = program.occurrences(policy_names | proxy_names) if policy_names | proxy_names else {}
    finder.find_sites(uses, policy_names)
    nodes = [program.node_at(start, end) for start, end in _proxy_literals(program)]
    for name in sorted(proxy_names):
        nodes += [program.node_at(offset, offset + len(name)) for offset in uses.get(name, ())]
    finder.find_methods([n for n in nodes if n is not None and _is_use(n)])
    return _link(finder)


def _proxy_literals(program: Program) -> list[tuple[int, int]]:
    """Where ``'X_Proxy'``, ``'X_Proxy.m'`` or ``'X_Proxy.'`` is written out as a literal."""
    data = program.data
    out = []
    for match in program.locate(_PROXY_MARK):
        quote = match.group(1)
        start = data.rfind(quote, max(0, match.start() - 256), match.start())
        if start >= 0 and _PROXY_NAME.fullmatch(data, start + 1, match.start()):
            out.append((start, match.end()))
    return out


def _is_use(node: Node) -> bool:
    """Not the interned string's own declaration (``var Olf='…'``)."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "variable_declarator" and parent.child_by_field_name("name") == node:
        return False
    if parent.type == "assignment_expression" and parent.child_by_field_name("left") == node:
        return False
    return node.type in ("string", "identifier")


def _stem(name: str) -> str:
    simple = name.rsplit(".", 1)[-1].rsplit("$", 1)[-1].rsplit("/", 1)[-1]
    for word in ("Async", "Service", "Gwt", "Rpc", "Remote", "_Proxy"):
        simple = simple.replace(word, "")
    return simple.lower()


def _link(finder: _Finder) -> list[DerivedService]:
    by_proxy: dict[str, list[_MethodSite]] = {}
    for site in finder.methods:
        by_proxy.setdefault(site.proxy, []).append(site)
    sites = list(finder.sites)
    links: dict[str, tuple[_Site, str]] = {}

    def take(proxy: str, site: _Site, how: str) -> None:
        links[proxy] = (site, how)
        sites.remove(site)

    if len(sites) == 1 and len(by_proxy) == 1:
        take(next(iter(by_proxy)), sites[0], "single")
    ctors = finder.class_literal_ctors(set(by_proxy) - set(links)) if sites else {}
    for proxy in sorted(set(by_proxy) - set(links)):
        matching = [s for s in sites if s.ctor is not None and s.ctor in ctors.get(proxy, ())]
        if len(matching) == 1:
            take(proxy, matching[0], "class-literal")
    for proxy in sorted(set(by_proxy) - set(links)):
        matching = [s for s in sites if s.ctor is not None
                    and s.ctor.lstrip("$").split("_Proxy")[0] + "_Proxy" == proxy]
        if len(matching) == 1:
            take(proxy, matching[0], "pretty-name")
    for proxy in sorted(set(by_proxy) - set(links)):  # last: names alone
        interface = next((m.interface for m in by_proxy[proxy] if m.interface), proxy)
        stems = {_stem(proxy), _stem(interface)}
        matching = [s for s in sites if s.path is not None and _stem(s.path) in stems]
        if len(matching) != 1:
            continue
        path_stem = _stem(matching[0].path or "")
        rivals = [p for p in set(by_proxy) - set(links) if path_stem in (
            _stem(p), _stem(next((m.interface for m in by_proxy[p] if m.interface), p)))]
        if rivals == [proxy]:
            take(proxy, matching[0], "name")
    services = []
    for proxy, group in by_proxy.items():
        linked, how = links.get(proxy, (None, None))
        services.append(_service(group, linked, how))
    services += [DerivedService(None, s.path, s.policy) for s in sites]
    return services


def _service(group: list[_MethodSite], site: _Site | None, how: str | None) -> DerivedService:
    interface = next((m.interface for m in group if m.interface), None)
    seen: dict[tuple[str, tuple[str, ...]], DerivedMethod] = {}
    for m in sorted(group, key=lambda m: m.offset):
        seen.setdefault((m.method.name, m.method.params), m.method)
    return DerivedService(interface, site.path if site else None, site.policy if site else None,
                          tuple(seen.values()), how)
