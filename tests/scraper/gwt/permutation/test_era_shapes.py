"""Table, reader, writer and enum shapes of GWT 1.4–2.10 and SuperDevMode, one per test.

Every program here is written by hand in the shape the report on genuine permutations
describes (the compiled output itself is never copied): the names are invented, the structure is
what GWT's compiler prints in that era.
"""

from __future__ import annotations

from scraper.gwt.permutation import derive_permutation
from tests.scraper.gwt.permutation.test_shapes import BUILTIN_ROWS, RUNTIME, derive, kinds


def test_registerMethods_rows_left_over_next_to_assignments():
    """GWT 2.0: the inliner ran out of budget for the last rows of the method map."""
    build = derive_permutation(
        RUNTIME + "function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a)}"
        "function Wb(a){return new Xb}function Yb(a,b){b.y=!!a.c[--a.b]}"
        "function Zb(a,b){}"
        "function $clinit_9(){methodMap_0={};" + BUILTIN_ROWS.replace("a[", "methodMap_0[")
        + "methodMap_0['p.Assigned/1']=[Tb,Vb];"
        "registerMethods(methodMap_0, 'p.Called/2', [Wb, Yb]);"
        "registerMethods(methodMap_0, 'p.Sent/3', [undefined, undefined, Zb])}")
    assert kinds(build, "p.Assigned") == ["String"]
    assert kinds(build, "p.Called") == ["boolean"]
    assert (build.types["p.Sent"].receive, build.types["p.Sent"].send) == (False, True)


def test_object_literal_table_of_gwt_1_5():
    """GWT 1.5–1.7: the TypeSerializer's clinit assigns one object literal."""
    build = derive_permutation(
        RUNTIME + "function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a);b.y=a.c[--a.b]}"
        "function Kz(){Kz=Object;Lz={'p.Lit/5':[Tb,Vb],'java.lang.Long/4227064769':[Gb,,dc],"
        "'java.lang.String/2004016611':[Ib,,ec]};Mz={'p.Lit':Nz}}")
    assert kinds(build, "p.Lit") == ["String", "numeric"]


def test_object_literal_table_with_forwarding_lambdas_of_gwt_1_4():
    """GWT 1.4 wraps every table function in a lambda that only forwards its arguments."""
    build = derive_permutation(
        RUNTIME + "function Tb(a){return new Ub}function Vb(a,b){b.x=Ib(a);Wb(a,b)}"
        "function Wb(a,b){b.y=!!a.c[--a.b]}"
        "function ms(){return {'p.Wrapped/6':[function(a){return Tb(a);},"
        "function(a,b){Vb(a,b);},function(a,b){Xb(a,b);}],"
        "'java.lang.String/2004016611':[function(a){return Ib(a);},function(a,b){},"
        "function(a,b){ec(a,b);}]};}")
    entry = build.types["p.Wrapped"]
    assert entry.form == "class" and entry.receive and entry.send
    assert kinds(build, "p.Wrapped") == ["String", "boolean"]


def test_number_of_a_raw_read_is_a_double():
    """GWT 2.8+: readDouble is ``Number(results[--index])``, inlined or a function."""
    build = derive("function wo(a){return Number(a.c[--a.b])}function Tb(a){return new Ub}"
                   "function Vb(a,b){b.x=wo(a);b.y=Number(a.c[--a.b]);b.z=a.c[--a.b]}",
                   "a['p.Num/1']=[Tb,Vb];")
    assert kinds(build, "p.Num") == ["double", "double", "numeric"]


def test_long_decoder_through_a_temporary_and_the_base64_digit_function():
    """GWT 2.3: ``(e=raw, L(e))``; the decoder reads characters through GWT's base-64 digit
    function (65/90/97/26/48/57/52/36/62/63), not ``charCodeAt`` itself."""
    build = derive_permutation(
        "var bb='java.lang.String/2004016611';"
        "function Bb(b,c){return c>0?b.d[c-1]:null}"
        "function sn(a){if(a>=65&&a<=90){return a-65}if(a>=97){return a-97+26}"
        "if(a>=48&&a<=57){return a-48+52}if(a==36){return 62}return 63}"
        "function cc(a,b){return a.charCodeAt(b)}"
        "function zn(a){var b,c,d;d=0;c=sn(cc(a,d++));b=a.length;while(d<b){c=c*64+sn(cc(a,d++))}"
        "return c}"
        "function Tb(b){return new Ub}"
        "function Vb(b,c){var e;c.a=(e=b.c[--b.b],zn(e));c.b=Bb(b,b.c[--b.b]);zn(b.c[--b.b])}"
        "function Tz(){var a={};a[bb]=[function(b){return Bb(b,b.c[--b.b])},Sb];"
        "a['p.Long/2']=[Tb,Vb];return a}")
    assert kinds(build, "p.Long") == ["long", "String", "long"]


def test_long_reader_function_that_keeps_the_raw_read_in_a_local():
    """GWT 2.4: ``function Qwb(b){var a=b.c[--b.b];return znb(a)}``."""
    build = derive("function Qb(b){var a=b.c[--b.b];return Db(a)}function Tb(a){return new Ub}"
                   "function Vb(a,b){b.x=Qb(a)}", "a['p.L/3']=[Tb,Vb];")
    assert kinds(build, "p.L") == ["long"]


def test_string_read_as_get_string_of_a_read_int_call():
    """GWT 2.4: readString is ``getString(r, readInt(r))``; the readInt call alone stays an int
    even though String's instantiate uses it too."""
    build = derive("function Tb(a){return new Ub}function Vb(a,b){b.x=Bb(a,Ab(a));b.y=Ab(a)}",
                   "a['p.S/4']=[Tb,Vb];a['java.lang.String/2004016611']=[function(a){"
                   "return Bb(a,Ab(a))},,ec];")
    assert kinds(build, "p.S") == ["String", "int"]


def test_writers_that_append_preformatted_tokens():
    """GWT 2.4–2.10 writers: ``append(w.buffer, b ? '1' : '0')`` (quoted, or interned),
    ``append(w, '' + n)`` with an interned empty string, ``append(w, toBase64(l))``."""
    build = derive(
        "var m1='1',m0='0',e0='';"
        "function Mn(a,b){a.a+=b;a.a+='|'}"
        "function Ew(a,b){Mn(a.b,b?m1:m0)}function Fw(a,b){Mn(a.b,e0+b)}"
        "function An(a){var b,c;b=new Sb;c=a.h;Tn(b,c>>28&15);Tn(b,c>>22&63);Tn(b,c>>16&63);"
        "Tn(b,c>>10&63);Tn(b,c>>4&63);Tn(b,a.l>>18&63);Tn(b,a.l&63);return b.a}"
        "function Xs(a,b){Ew(a,b.a);Fw(a,b.b);Mn(a,b.c?'1':'0');Mn(a,An(b.d));Mn(a,''+b.e)}",
        "a['p.W/5']=[undefined,undefined,Xs];")
    entry = build.types["p.W"]
    assert (entry.receive, entry.send, entry.form) == (False, True, "class")
    assert kinds(build, "p.W") == ["boolean", "numeric", "boolean", "long", "numeric"]


def test_reads_in_a_loop_have_no_fixed_layout():
    """A custom serializer (or a class extending a collection) reads a size, then that many."""
    build = derive("function Tb(a){return new Ub}function Vb(a,b){Pb(a,b)}"
                   "function Wb(a){return new Xb}function Yb(a,b){var c,d;d=Ab(a);"
                   "for(c=0;c<d;++c){b.a[c]=Cb(a)}}",
                   "a['p.ExtendsList/6']=[Tb,Vb];a['p.Custom/7']=[Wb,Yb];")
    extends, custom = build.types["p.ExtendsList"], build.types["p.Custom"]
    assert extends.form == "opaque" and "java.util.ArrayList" in (extends.note or "")
    assert custom.form == "opaque" and "loop" in (custom.note or "")


def test_superdevmode_names_setters_with_clinit_and_method_readers():
    """SuperDevMode: ``_g$`` names, a clinit call first in every function, readers as methods
    of the reader (``readDouble_0_g$``), properties ``change_1_g$``."""
    build = derive_permutation(
        "var bb_g$='java.lang.String/2004016611';"
        "_.readDouble_0_g$=function Nt_g$(){return Number(this.results_0_g$[--this.index_3_g$])};"
        "_.readString_0_g$=function Ot_g$(){return Pt_g$(this,this.results_0_g$[--this.index_3_g$])};"
        "function Pt_g$(b,a){return a>0?b.table_0_g$[a-1]:null}"
        "function yz_g$(){yz_g$=Object}"
        "function Kz_g$(instance_0_g$,value_0_g$){yz_g$();instance_0_g$.change_1_g$=value_0_g$}"
        "function Lz_g$(instance_0_g$,value_0_g$){yz_g$();instance_0_g$.symbol_2_g$=value_0_g$}"
        "function Cz_g$(streamReader_0_g$){yz_g$();return new Jz_g$}"
        "function Dz_g$(streamReader_0_g$,instance_0_g$){yz_g$();"
        "Kz_g$(instance_0_g$,streamReader_0_g$.readDouble_0_g$());"
        "Lz_g$(instance_0_g$,streamReader_0_g$.readString_0_g$())}"
        "function nz_g$(){var result_0_g$={};"
        "result_0_g$['p.StockPrice/7']=[Cz_g$,Dz_g$];return result_0_g$}")
    assert build.style == "PRETTY"
    assert [(s.name, s.kind) for s in build.types["p.StockPrice"].fields] == [
        ("change", "double"), ("symbol", "String")]


def test_enum_values_through_the_clinit_and_its_constant_count():
    """GWT 2.3: ``d=(Of(),Of(),Kf);return d[c]``; the clinit builds ``Kf`` from the constants."""
    build = derive("function Lf(a,b){this.f=a;this.e=b}"
                   "function Of(){Of=Object;Mf=new Lf('A',0);Nf=new Lf('B',1);Pf=new Lf('C',2);"
                   "Kf=Qf(Rf,{},7,[Mf,Nf,Pf])}"
                   "function Tf(b){var c,d;c=b.c[--b.b];d=(Of(),Of(),Kf);return d[c]}"
                   "function Sf(b,c){}function Uf(b,c){Ab2(b,c.e)}",
                   "a['p.Kind/8']=[Tf,Sf,Uf];")
    entry = build.types["p.Kind"]
    assert (entry.form, entry.constants) == ("enum", 3)


def test_enum_values_function_and_its_constant_count():
    """GWT 2.5+: ``values()`` stays a function that returns the constants array."""
    build = derive("function Lf(a,b){this.f=a;this.e=b}"
                   "function ad(){ad=Object;Sc=new Lf('X',0);Tc=new Lf('Y',1)}"
                   "function bd(){return ad(),Vf(Wf,{},9,[Sc,Tc])}"
                   "function Td(a){var b;b=a.c[--a.b];return bd()[b]}function Sd(a,b){}",
                   "a['p.Two/9']=[Td,Sd];")
    entry = build.types["p.Two"]
    assert (entry.form, entry.constants) == ("enum", 2)


def test_send_only_enum_is_told_from_a_one_int_class_by_the_ordinal_property():
    """A send-only enum's serialize writes ``ordinal``: the property that enum constants'
    construction (``new X('NAME', 3)``, ``Y.call(this, 'NAME', 3)``) sets from its 2nd argument.
    A class whose serialize writes one other int stays a class."""
    build = derive("function Ef(a,b){this.n=a;this.o=b}function Gf(a,b){Ef.call(this,a,b)}"
                   "function Hf(){Gf.call(this,'READ',0)}function If(){Gf.call(this,'WRITE',1)}"
                   "function Jf(){Jf=Object;Kf=new Hf;Lf=new If;Mf=new Ef('OTHER',2)}"
                   "function Uf(a,b){Fw(a,b.o)}function Vf(a,b){Fw(a,b.p)}"
                   "function Fw(a,b){W0(a,''+b)}",
                   "a['p.Mode/10']=[undefined,undefined,Uf];a['p.OneInt/11']=[undefined,undefined,Vf];")
    assert build.types["p.Mode"].form == "enum"
    assert build.types["p.OneInt"].form == "class"
    assert kinds(build, "p.OneInt") == ["numeric"]


def test_a_line_start_inside_a_statement_does_not_split_it():
    """The program is parsed by segments cut before lines that start with ``var`` or
    ``function``; a cut inside a function (a ``var`` at the start of a line) heals."""
    build = derive("function Tb(a){return new Ub}\nfunction Vb(a,b){b.x=Ib(a);\n"
                   "var q=1;b.y=Lg(a)}\n", "a['p.Split/12']=[Tb,Vb];")
    assert kinds(build, "p.Split") == ["String", "long"]


def test_cache_html_split_between_script_blocks():
    """The iframe linker cuts the program into many ``<script>`` blocks between statements."""
    first = RUNTIME + "function Tb(a){return new Ub}"
    second = (f"function Vb(a,b){{b.x=Lg(a);b.y=Ib(a)}}"
              f"function Tz(){{var a;a={{}};{BUILTIN_ROWS}a['p.Blocks/13']=[Tb,Vb];return a}}")
    page = (f"<html><head><script>var $gwt_version=\"2.3.0\";</script></head><body>"
            f"<script><!--\n{first}\n--></script><script><!--\n{second}\n--></script></body></html>")
    build = derive_permutation(page)
    assert kinds(build, "p.Blocks") == ["long", "String"]
    assert build.gwt_version == "2.3.0"


def test_write_object_as_a_writer_method_without_any_collection_anchor():
    """Writers as methods (``w.S(v)``) and no ArrayList in the table to anchor writeObject: its
    body still says what it is — an object seen before is written as ``-(index + 1)``."""
    build = derive("_.S=function(a){var b;if(a==null){this.T(''+0);return}b=this.m.get(a);"
                   "if(b>=0){this.T(''+-(b+1));return}this.U(a)};"
                   "_.T=function(a){this.b.a+=a;this.b.a+='|'};"
                   "function Ws(a,b){a.S(b.n)}",
                   "a['p.HoldsLong/14']=[undefined,undefined,Ws];")
    assert kinds(build, "p.HoldsLong") == ["Object"]
