"""Derivation time of a large permutation (goal: a 2 MB permutation in <= 0.5 s).

The permutation is synthetic but shaped like GWT 2.7 OBF output (interned signature strings,
one TypeSerializer table, field serializers with static and inlined readers, superclass calls,
filler functions like the rest of an app): N classes are generated until the text reaches the
target size. Prints size, classes, best/median time of R runs, and the ratio to the goal.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from scraper.gwt.permutation import derive_permutation

RUNTIME = (
    "var a0='java.lang.Long/4227064769',b0='java.lang.String/2004016611',"
    "c0='java.lang.Boolean/476441737',d0='java.util.ArrayList/4159755760',"
    "e0='java.lang.Integer/3438268394';"
    "function R1(a){return a.c[--a.b]}function R2(a,b){return b>0?a.d[b-1]:null}"
    "function R3(a){var b,c;b=a.c[--a.b];if(b<0){return R9(a.e,-(b+1))}c=R2(a,b);"
    "if(c==null){return null}return R8(a,c)}"
    "function R4(a){var b,c,d;d=0;for(c=0;c<a.length;c++){b=a.charCodeAt(c);d=d*64+b}return d}"
    "function R5(a){return R4(a.c[--a.b])}function R6(a){return R2(a,a.c[--a.b])}"
    "function L1(a){return V1(R5(a))}function S1(a){return R6(a)}function B1(a){return V2(!!a.c[--a.b])}"
    "function I1(a){return V3(R1(a))}function A1(a){return new V4}"
    "function A2(a,b){var c,d;d=R1(a);for(c=0;c<d;++c){V5(b,R3(a))}}"
)
READS = ["R6(a)", "R3(a)", "!!a.c[--a.b]", "R1(a)", "R5(a)", "a.c[--a.b]", "R2(a,a.c[--a.b])"]


def _name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    i += 100
    while i:
        i, r = divmod(i, len(letters))
        out = letters[r] + out
    return out


def synthetic(target_bytes: int, seed: int = 7) -> tuple[str, int]:
    rng = random.Random(seed)
    parts = [RUNTIME]
    rows = ["a[a0]=[L1,,];a[b0]=[S1,,];a[c0]=[B1,,];a[d0]=[A1,A2,];a[e0]=[I1,,];"]
    strings = []
    size = len(RUNTIME)
    n = 0
    while size < target_bytes:
        k = _name(n)
        fields = rng.randint(2, 14)
        body = ";".join(f"b.{_name(j)}={rng.choice(READS)}" for j in range(fields))
        parent = f";D{_name(n - 1)}(a,b)" if n and rng.random() < 0.3 else ""
        fn = (f"function I{k}(a){{return new C{k}}}function D{k}(a,b){{{body}{parent}}}"
              f"function F{k}(a,b){{if(b.{_name(0)}!=null){{Q(b)}}return Z(a,b,{n})}}")
        strings.append(f"s{k}='com.example.gen.Class{n}/{rng.randint(1, 4_000_000_000)}'")
        rows.append(f"a[s{k}]=[I{k},D{k}];")
        parts.append(fn)
        size += len(fn) + len(strings[-1]) + len(rows[-1]) + 1
        n += 1
    table = "function T0(){var a;a={};" + "".join(rows) + "return a}"
    return "var " + ",".join(strings) + ";" + "".join(parts) + table, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text, classes = synthetic(int(args.mb * 1024 * 1024))
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        build = derive_permutation(text)
        times.append(time.perf_counter() - start)
    derived = sum(1 for t in build.types.values() if t.form == "class")
    best, median = min(times), statistics.median(times)
    print(f"derive: {len(text) / 1e6:.2f} MB, {classes} generated classes, {derived} derived; "
          f"best {best:.3f} s, median {median:.3f} s over {args.runs} runs; "
          f"median / goal 0.5 s = {median / 0.5:.2f}x")


if __name__ == "__main__":
    main()
