"""Derivation from small programs written in the shapes GWT 2.x compilers emit.

Each program is written here by hand, one shape at a time (GWT's generated tables, field
serializers and proxies as the compiler prints them), so a failure names the shape that broke.
The whole-permutation tests (sandbox builds, random class graphs) are in test_generated.py.
"""

from __future__ import annotations

import pytest

from scraper.errors import PermutationError
from scraper.gwt.permutation import derive_permutation

#: GWT's built-in serializers in the static-reader shape: readInt ``Ab``, getString ``Bb``,
#: readObject ``Cb``, base-64 long ``Db``; Long/String/Boolean/Integer/ArrayList entries.
RUNTIME = """
var ab='java.lang.Long/4227064769',bb='java.lang.String/2004016611',cb='java.lang.Boolean/476441737',
db='java.util.ArrayList/4159755760',ib='java.lang.Integer/3438268394';
function Ab(a){return a.c[--a.b]}
function Bb(a,b){return b>0?a.d[b-1]:null}
function Cb(a){var b,c;b=a.c[--a.b];if(b<0){return Eb(a.e,-(b+1))}c=Bb(a,b);
if(c==null){return null}return Fb(a,c)}
function Db(a){var b,c,d;d=0;for(c=0;c<a.length;c++){b=a.charCodeAt(c);d=d*64+b}return d}
function Gb(a){return Hb(Db(a.c[--a.b]))}
function Lg(a){return Db(a.c[--a.b])}
function Ib(a){return Bb(a,a.c[--a.b])}
function Jb(a){return Kb(!!a.c[--a.b])}
function Lb(a){return Mb(Ab(a))}
function Nb(a,b){var c,d;d=a.c[--a.b];for(c=0;c<d;++c){Ob(b,Cb(a))}}
function Pb(a,b){Nb(a,b)}
function gc(a){return new nc}
function dc(a,b){jc(a,b.a)}function ec(a,b){kc(a,b)}function fc(a,b){lc(a,b.a?1:0)}
function ic(a,b){lc(a,''+b.a)}
function hc(a,b){lc(a,''+b.a.length);for(var c=0;c<b.a.length;c++){oc(a,b.a[c])}}
"""
BUILTIN_ROWS = "a[ab]=[Gb,,dc];a[bb]=[Ib,,ec];a[cb]=[Jb,,fc];a[db]=[gc,Pb,hc];a[ib]=[Lb,,ic];"


def derive(program: str, rows: str):
    table = f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}{rows}return a}}"
    return derive_permutation(RUNTIME + program + table)


def kinds(build, name):
    return [s.kind for s in build.flat_fields(name)]


def test_static_readers_super_call_and_unused_read():
    build = derive(
        "function Sb(a,b){b.a=Hk(Cb(a),12)}"
        "function Tb(a){return new Ub}"
        "function Vb(a,b){b.c=Bb(a,a.c[--a.b]);b.d=Ib(a);b.e=!!a.c[--a.b];Ab(a);b.g=Lg(a);Sb(a,b)}"
        "function Rb(a){return new Qb}",
        "a['p.Row/1']=[Tb,Vb];a['p.Rec/2']=[Rb,Sb];",
    )
    row = build.types["p.Row"]
    assert row.form == "class" and row.receive and not row.send
    assert [s.kind for s in row.fields] == ["String", "String", "boolean", "int", "long"]
    assert row.superclass == "p.Rec"
    assert kinds(build, "p.Row") == ["String", "String", "boolean", "int", "long", "Object"]


def test_inlined_readers_collapse_numeric_kinds():
    build = derive("function Tb(a){return new Ub}"
                   "function Vb(a,b){b.x=a.c[--a.b];b.y=!!a.c[--a.b];b.z=a.c[--a.b]}",
                   "a['p.Flat/3']=[Tb,Vb];")
    assert kinds(build, "p.Flat") == ["numeric", "boolean", "numeric"]


def test_method_readers_are_identified_by_the_builtins_not_by_name():
    program = (
        "_.Xq=function(){return this.c[--this.b]};"
        "_.Yq=function(){return Bb(this,this.c[--this.b])};"
        "_.Zq=function(){var b;b=this.c[--this.b];if(b<0){return 1}return Fb(this,b)};"
        "function Ib2(a){return a.Yq()}"
        "function Tb(a){return new Ub}"
        "function Vb(a,b){b.p=a.Yq();b.q=a.Zq();b.r=a.Xq()}"
    )
    rows = "a['p.M/4']=[Tb,Vb];"
    build = derive(program, rows)
    assert kinds(build, "p.M") == ["String", "Object", "numeric"]


def test_unnamed_abstract_superclass_is_folded_in():
    build = derive("function Sb(a,b){b.a=Cb(a);b.b=Bb(a,a.c[--a.b])}"
                   "function Tb(a){return new Ub}function Vb(a,b){b.c=!!a.c[--a.b];Sb(a,b)}",
                   "a['p.Sub/5']=[Tb,Vb];")
    sub = build.types["p.Sub"]
    assert sub.superclass is None
    assert [s.kind for s in sub.fields] == ["boolean", "Object", "String"]


def test_setter_functions_and_pretty_names():
    build = derive(
        "function setPhone(instance,value){instance.phone=value}"
        "function instantiate_7(streamReader){return new Ub}"
        "function deserialize_7(streamReader,instance){setPhone(instance,Ib(streamReader));"
        "instance.active_0=!!streamReader.c[--streamReader.b]}",
        "a['p.Pretty/6']=[instantiate_7,deserialize_7];",
    )
    assert build.style == "PRETTY"
    assert [(s.name, s.kind) for s in build.types["p.Pretty"].fields] == [
        ("phone", "String"), ("active", "boolean")]


def test_obfuscated_output_keeps_no_property_names():
    build = derive("function Sq(a,b){a.phone=b}function Tb(a){return new Ub}"
                   "function Vb(a,b){Sq(b,Ib(a))}", "a['p.O/7']=[Tb,Vb];")
    assert build.style == "OBF"
    assert build.types["p.O"].fields[0].name is None
    assert build.to_schema()["p.O"]["fields"] == [["f0", "java.lang.String"]]


def test_enum_send_only_and_tables_merged():
    build = derive(
        "function En(a){var b;b=a.c[--a.b];return Vz(),Wz[b]}function Ed(a,b){}"
        "function Sr(a,b){jc(a,b.k);kc(a,b.s);oc(a,b.o);Sx(a,b)}function Sx(a,b){lc(a,b.f?1:0)}"
        "function Tz2(){var a;a={};a['p.Sent/9']=[null,undefined,Sr];a['p.E/8']=[En,Ed];return a}",
        "a['p.E/8']=[En,Ed];",
    )
    assert build.types["p.E"].form == "enum" and build.types["p.E"].receive
    sent = build.types["p.Sent"]
    assert (sent.receive, sent.send, sent.form) == (False, True, "class")
    assert [s.kind for s in sent.fields] == ["long", "String", "Object", "boolean"]


def test_proxy_methods_and_policy_found_through_interned_strings():
    build = derive(
        "var jb='DispatcherGwtService',kb='EAA49B7B1A97DFBDC367A2E2573FB3B7',"
        "lb='ru.cti.vpbx.shared.services.DispatcherService';"
        "function pc(){qc.call(this,rc(),jb,kb,new sc)}"
        "function tc(b,c,d){var a,e;e=new uc(b,'DispatcherService_Proxy','getForm');"
        "try{a=vc(e,lb,2);wc(a,ab);wc(a,'p.D/4095484021');xc(a,c);xc(a,d);yc(e,d)}catch(f){}}",
        "",
    )
    (svc,) = build.services
    assert (svc.interface, svc.path, svc.policy, svc.linked_by) == (
        "ru.cti.vpbx.shared.services.DispatcherService", "DispatcherGwtService",
        "EAA49B7B1A97DFBDC367A2E2573FB3B7", "single")
    assert [(m.name, m.params) for m in svc.methods] == [
        ("getForm", ("java.lang.Long/4227064769", "p.D/4095484021"))]


def test_code_embedded_as_strings_of_a_loader_call():
    inner = RUNTIME + ("function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a)}"
                       f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}a['p.In/1']=[Tb,Vb];return a}}")
    escaped = inner.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    build = derive_permutation(f'vpbxGwt.onScriptDownloaded(["{escaped}"]);')
    assert kinds(build, "p.In") == ["String"]


def test_cache_html_script_blocks():
    page = ("<html><head><script><!--\n" + RUNTIME +
            "function Tb(a){return new Ub}function Vb(a,b){b.x=Lg(a)}"
            f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}a['p.H/1']=[Tb,Vb];return a}}"
            "\n--></script></head><body></body></html>")
    assert kinds(derive_permutation(page), "p.H") == ["long"]


@pytest.mark.parametrize("text", ["", "   ", "var x = 1;", "<html><body>hi</body></html>",
                                  "function (((", "\x00\x01garbage", RUNTIME[:500]])
def test_not_a_permutation_is_a_typed_error(text):
    with pytest.raises(PermutationError) as info:
        derive_permutation(text)
    assert info.value.reason in ("empty", "no-type-table")


def test_unknown_reader_makes_the_class_opaque_not_guessed():
    build = derive("function Tb(a){return new Ub}function Vb(a,b){b.x=Zz(a)}",
                   "a['p.U/1']=[Tb,Vb];")
    entry = build.types["p.U"]
    assert entry.form == "opaque" and "Zz" in (entry.note or "")


def test_emulated_stack_trace_wrappers_are_seen_through():
    """``compiler.stackMode=emulated`` wraps every value: ``(Nw[c]=x+y, a)`` and temporaries
    ``(Ow=X, Nw[c]=…, Ow)``; a local assigned then returned (``c=X;…;return c``)."""
    build = derive(
        "function Rd(a){var b,c;Lw[b=++Mw]=Rd;c=Bb((Nw[b]=q+r,a),(Ow=(Nw[b]=q+s,a.c)"
        "[Nw[b]=q+s,--(Nw[b]=q+r,a).b],Nw[b]=q+t,Ow));Mw=b-1;return c}"
        "function Tb(a){return new Ub}"
        "function Vb(a,b){var c;Lw[c=++Mw]=Vb;Vm((Nw[c]=q+e,b),(Ow=Rd(a),Nw[c]=q+e,Ow));"
        "(Nw[c]=q+f,b).x=(Ow=!!(Nw[c]=q+g,a.c)[Nw[c]=q+g,--(Nw[c]=q+h,a).b],Nw[c]=q+i,Ow);"
        "Mw=c-1}",
        "a['p.Em/1']=[Tb,Vb];",
    )
    assert kinds(build, "p.Em") == ["String", "boolean"]


def test_a_lone_surrogate_escape_in_a_string_is_not_a_crash():
    """Found by fuzzing: a cut permutation may end a string inside an escaped surrogate pair."""
    build = derive("var zz='\\uD83D';function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a)}",
                   "a['p.S/1']=[Tb,Vb];")
    assert kinds(build, "p.S") == ["String"]
