"""Derivation time of a large permutation (goal: a 2 MB permutation in <= 0.5 s).

The permutation is synthetic but composed like a real GWT 2.4–2.7 OBF one (openkm's 1.65 MB
carries 168 table entries and 28 services): one top-level function per line, a few hundred RPC
classes — field serializers with setter functions and static readers, with inlined readers and
property stores, enums, superclass calls — two TypeSerializer tables, service proxies with
their methods and class literals, the interned-string ``var`` list, and ordinary application
code (DOM set-up, loops, prototype set-up lines) up to the target size.

``--worst`` keeps the old composition instead: every function a field serializer (thousands of
classes), the worst case for the per-class work.

Prints size, classes, best/median time of R runs, how much of the program was parsed and how
long parsing took (the rest is the deriver's own work), and the ratio to the goal.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from tree_sitter import Node

from scraper.gwt.permutation import derive_permutation, jsindex

RUNTIME = (
    "function R1(a){return a.c[--a.b]}\nfunction R2(b,a){return a>0?b.d[a-1]:null}\n"
    "function R3(a){var b,c;b=a.c[--a.b];if(b<0){return R9(a.e,-(b+1))}c=R2(a,b);"
    "if(c==null){return null}return R8(a,c)}\n"
    "function R7(a){if(a>=65&&a<=90){return a-65}if(a>=97){return a-97+26}"
    "if(a>=48&&a<=57){return a-48+52}if(a==36){return 62}return 63}\n"
    "function R4(a){var b,c,d;d=0;c=R7(a.charCodeAt(d++));b=a.length;"
    "while(d<b){c=c*64+R7(a.charCodeAt(d++))}return c}\n"
    "function R5(b){var a=b.c[--b.b];return R4(a)}\nfunction R6(a){return !!a.c[--a.b]}\n"
    "function L1(a){return V1(R5(a))}\nfunction S1(a){return R2(a,R1(a))}\n"
    "function B1(a){return V2(R6(a))}\nfunction I1(a){return V3(R1(a))}\n"
    "function A1(a){return new V4}\nfunction A2(a,b){var c,d;d=R1(a);for(c=0;c<d;++c){V5(b,R3(a))}}\n"
    "function A3(a,b){A2(a,b)}\nfunction E0(a,b){}\nfunction E1(a,b){}\nfunction E2(a,b){}\n"
    "function W0(a,b){a.a+=''+b;a.a+='|'}\nfunction W1(a,b){W0(a.b,''+b)}\n"
    "function W2(a,b){if(b==null){return 0}return W9(a,b)}\nfunction W3(a,b){W1(a,W2(a,b))}\n"
    "function W4(a,b){W0(a.b,b?'1':'0')}\n"
    "function H1(a,b,c){this.f=a;this.b=b+'.'+c;this.c=c;this.d=new H9}\n"
    "function H2(a,b,c){var d;d=H8(a.f);W3(d,b);W3(d,a.c);W1(d,c);return d}\n"
    "function H3(a,b,c){this.b=a;b!=null&&(this.c=a+b);this.g=c}\n"
)
RUNTIME_STRINGS = ["a0='java.lang.Long/4227064769'", "b0='java.lang.String/2004016611'",
                   "c0='java.lang.Boolean/476441737'", "d0='java.util.ArrayList/4159755760'",
                   "e0='java.lang.Integer/3438268394'"]
RUNTIME_ROWS = "a[a0]=[L1,E0];a[b0]=[S1,E1];a[c0]=[B1,E2];a[d0]=[A1,A3];a[e0]=[I1,E0];"
#: reads as this build writes them: static readers (R*) and inlined ones
STATIC_READS = ["S1(a)", "R3(a)", "R6(a)", "R1(a)", "R5(a)"]
INLINE_READS = ["R2(a,a.c[--a.b])", "R3(a)", "!!a.c[--a.b]", "a.c[--a.b]", "R5(a)"]
WORDS = ("panel", "label", "button", "grid", "row", "cell", "name", "title", "value", "item",
         "list", "tree", "node", "path", "folder", "document", "user", "group", "mail", "note")


def _name(i: int, prefix: str = "") -> str:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    i += 100
    while i:
        i, r = divmod(i, len(letters))
        out = letters[r] + out
    return prefix + out


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines: list[str] = [RUNTIME]
        self.strings: list[str] = list(RUNTIME_STRINGS)
        self.literals: list[str] = []
        self.size = len(RUNTIME)
        self.serial = 0

    def fresh(self, prefix: str) -> str:
        self.serial += 1
        return _name(self.serial, prefix)

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1

    def rpc_class(self, n: int, rows: list[str], parent: str | None) -> str:
        """One class: instantiate, deserialize (setter functions or property stores), serialize."""
        rng = self.rng
        k = self.fresh("C")
        sig = self.fresh("s")
        self.strings.append(f"{sig}='com.example.shared.Bean{n}/{rng.randint(1, 4_000_000_000)}'")
        fields = rng.randint(2, 12)
        if rng.random() < 0.5:  # 2.4 style: setter functions, static readers
            setters = []
            body = []
            for j in range(fields):
                setter = self.fresh("t")
                setters.append(f"function {setter}(a,b){{a.{_name(j)}=b}}")
                body.append(f"{setter}(b,{rng.choice(STATIC_READS)})")
            for setter in setters:
                self.add(setter)
        else:  # 2.3 style: inlined readers, property stores
            body = [f"b.{_name(j)}={rng.choice(INLINE_READS)}" for j in range(fields)]
        if parent is not None:
            body.append(f"D{parent}(a,b)")
        self.add(f"function I{k}(a){{return new Q{k}}}")
        self.add(f"function D{k}(a,b){{{';'.join(body)}}}")
        writes = ";".join(f"W1(a,b.{_name(j)})" for j in range(fields))
        self.add(f"function X{k}(a,b){{{writes}}}")
        rows.append(f"a[{sig}]=[I{k},D{k},X{k}];")
        return k

    def enum(self, rows: list[str]) -> None:
        k, values, clinit = self.fresh("N"), self.fresh("v"), self.fresh("K")
        sig = self.fresh("s")
        self.strings.append(f"{sig}='com.example.shared.Kind{k}/{self.rng.randint(1, 4_000_000_000)}'")
        constants = ",".join(f"new Z{k}('C{i}',{i})" for i in range(self.rng.randint(2, 8)))
        self.add(f"function {clinit}(){{{clinit}=Object;{values}=[{constants}]}}")
        self.add(f"function I{k}(a){{var b,c;b=a.c[--a.b];c=({clinit}(),{values});return c[b]}}")
        rows.append(f"a[{sig}]=[I{k},E0];")

    def service(self, index: int, methods: int) -> None:
        proxy, iface, policy = self.fresh("p"), self.fresh("i"), self.fresh("q")
        ctor, literal = self.fresh("P"), self.fresh("l")
        name = f"Service{index}"
        self.strings += [f"{proxy}='{name}_Proxy'", f"{iface}='com.example.client.{name}'"]
        self.literals.append(f"{literal}=F0('com.example.client.','{name}_Proxy')")
        hex_policy = "".join(self.rng.choice("0123456789ABCDEF") for _ in range(32))
        self.add(f"function {ctor}(){{H3.call(this,$moduleBase,'{name.lower()}','{hex_policy}')}}")
        del policy
        self.add(f"_={ctor}.prototype=new H0;_.gC=function {self.fresh('g')}(){{return {literal}}}")
        for m in range(methods):
            params = self.rng.randint(0, 3)
            writes = "".join(f"W3(e,b0);W3(e,{chr(99 + p)});" for p in range(params))
            args = ",".join(["b"] + [chr(99 + p) for p in range(params)] + ["z"])
            self.add(f"function {self.fresh('M')}({args}){{var e,f;f=new H1(b,{proxy},'m{m}');"
                     f"try{{e=H2(f,{iface},{params});{writes}H7(f,z,(H5(),H6))}}catch(a){{H4(a)}}}}")

    def filler(self) -> None:
        """Ordinary application code: DOM set-up, conditions, loops, prototype set-up."""
        rng = self.rng
        f = self.fresh("u")
        word = rng.choice(WORDS)
        shape = rng.random()
        if shape < 0.35:
            self.add(f"function {f}(a,b){{var c,d;c=$doc.createElement('div');"
                     f"c.className='gwt-{word} '+b;d=a.{_name(rng.randint(0, 40))};"
                     f"d.appendChild(c);if(b!=null&&b.length>0){{{self.fresh('u')}(a,c,b)}}"
                     f"return new {self.fresh('U')}(c,d)}}")
        elif shape < 0.6:
            self.add(f"function {f}(a){{var b,c,d;d=0;for(b=0,c=a.{_name(rng.randint(0, 9))}.length;"
                     f"b<c;++b){{d+={self.fresh('u')}(a.b[b],'{word}')*31}}return d}}")
        elif shape < 0.8:
            cases = "".join(f"case {i}:{{{self.fresh('u')}(a,b);break}}" for i in range(rng.randint(2, 6)))
            self.add(f"function {f}(a,b){{switch(b.{_name(rng.randint(0, 9))}){{{cases}default:"
                     f"{{return null}}}}return a.{_name(rng.randint(0, 9))}}}")
        else:
            cls = self.fresh("Y")
            methods = ";".join(f"_.{_name(rng.randint(0, 80))}=function {self.fresh('y')}(a)"
                               f"{{return this.{_name(j)}+a}}" for j in range(rng.randint(1, 5)))
            self.add(f"function {cls}(){{}}")
            self.add(f"_={cls}.prototype=new {self.fresh('Y')};{methods};_.{_name(3)}=null")
        if rng.random() < 0.3:
            self.strings.append(f"{self.fresh('w')}='{word} {rng.randint(0, 999)}'")


def synthetic(target_bytes: int, seed: int = 7, classes: int = 400, services: int = 6,
              methods: int = 15) -> tuple[str, int]:
    """A realistic program: ``classes`` RPC classes in ordinary application code."""
    b = _Builder(seed)
    rows: list[list[str]] = [[RUNTIME_ROWS], [RUNTIME_ROWS]]
    previous: str | None = None
    for n in range(classes):
        if n % 10 == 9:
            b.enum(rows[n % 2])
            continue
        parent = previous if previous is not None and b.rng.random() < 0.2 else None
        previous = b.rpc_class(n, rows[n % 2], parent)
        for _ in range(b.rng.randint(0, 3)):
            b.filler()
    for s in range(services):
        b.service(s, methods)
    tables = "\n".join(f"function T{i}(){{var a={{}};{''.join(r)}return a}}" for i, r in enumerate(rows))
    head = ("var $gwt_version='2.4.0';var $strongName='0123456789ABCDEF0123456789ABCDEF';\n"
            "function F0(a,b){var c;c=new G0;c.e=a;c.c=b;return c}\n")
    while b.size + len(tables) + len(head) + 40 * len(b.strings) < target_bytes:
        b.filler()
    strings = "var " + ",".join(b.strings) + ";\n"
    literals = "var " + ",".join(b.literals) + ";\n"
    middle = len(b.lines) // 2
    text = head + "\n".join(b.lines[:middle]) + "\n" + strings + "\n".join(b.lines[middle:]) \
        + "\n" + literals + tables + "\n"
    return text, classes


def worst_case(target_bytes: int, seed: int = 7) -> tuple[str, int]:
    """Every function a field serializer: thousands of classes in the same size."""
    rng = random.Random(seed)
    parts = [RUNTIME]
    rows = [RUNTIME_ROWS]
    strings = list(RUNTIME_STRINGS)
    size = len(RUNTIME)
    n = 0
    while size < target_bytes:
        k = _name(n)
        fields = rng.randint(2, 14)
        body = ";".join(f"b.{_name(j)}={rng.choice(INLINE_READS + STATIC_READS)}" for j in range(fields))
        parent = f";D{_name(n - 1)}(a,b)" if n and rng.random() < 0.3 else ""
        fn = (f"function I{k}(a){{return new C{k}}}\nfunction D{k}(a,b){{{body}{parent}}}\n"
              f"function F{k}(a,b){{if(b.{_name(0)}!=null){{Q(b)}}return Z(a,b,{n})}}")
        strings.append(f"s{k}='com.example.gen.Class{n}/{rng.randint(1, 4_000_000_000)}'")
        rows.append(f"a[s{k}]=[I{k},D{k}];")
        parts.append(fn)
        size += len(fn) + len(strings[-1]) + len(rows[-1]) + 3
        n += 1
    table = "function T0(){var a;a={};" + "".join(rows) + "return a}"
    return "var " + ",".join(strings) + ";\n" + "\n".join(parts) + "\n" + table, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--worst", action="store_true", help="every function a serializer")
    args = parser.parse_args()
    target = int(args.mb * 1024 * 1024)
    text, classes = worst_case(target) if args.worst else synthetic(target, classes=args.classes)
    parse_time = [0.0]
    parsed = [0]
    original = jsindex.Program._parse

    def timed(self: jsindex.Program, start: int, end: int) -> Node:
        began = time.perf_counter()
        try:
            return original(self, start, end)
        finally:
            parse_time[0] += time.perf_counter() - began
            parsed[0] += end - start

    jsindex.Program._parse = timed  # type: ignore[method-assign]
    times, parses = [], []
    for _ in range(args.runs):
        parse_time[0], parsed[0] = 0.0, 0
        start = time.perf_counter()
        build = derive_permutation(text)
        times.append(time.perf_counter() - start)
        parses.append(parse_time[0])
    derived = sum(1 for t in build.types.values() if t.form in ("class", "enum"))
    best, median = min(times), statistics.median(times)
    parse = parses[times.index(best)]
    print(f"derive: {len(text) / 1e6:.2f} MB, {classes} generated classes, {derived} derived, "
          f"{len(build.services)} services; best {best:.3f} s (parsing {parse:.3f} s of "
          f"{parsed[0] / 1e6:.2f} MB, the rest {best - parse:.3f} s), median {median:.3f} s "
          f"over {args.runs} runs; median / goal 0.5 s = {median / 0.5:.2f}x")


if __name__ == "__main__":
    main()
