"""Service proxy shapes of GWT 2.0–2.10, and what ties a proxy's methods to its servlet path.

Hand-written programs in the shapes compiled proxies have in each era (names invented). The
link between a path and an interface must come from the program itself — the class literal of
the proxy, PRETTY names, a single service, or shared names — never from where things happen to
sit in the file.
"""

from __future__ import annotations

from scraper.gwt.permutation import derive_permutation
from tests.scraper.gwt.permutation.test_shapes import derive

STRONG = "var $strongName='0123456789ABCDEF0123456789ABCDEF';"
#: 2.4+ ServiceHelper: the helper, start(interface, count), writeString (append + addString)
HELPER = ("function Hx(a,b,c){this.f=a;this.b=b+'.'+c;this.c=c}"
          "function Sx(a,b,c){var d;d=Dx(a.f);Wx(d,b);Wx(d,a.c);Ix(d,c);return d}"
          "function Wx(a,b){Ax(a.b,''+Kx(a,b))}function Ix(a,b){Ax(a.b,''+b)}"
          "function Rx(){Rx=Object;Ox=new Px;Vx=new Qx}"
          "function Px(){Ex.call(this,'OBJECT',7)}function Qx(){Ex.call(this,'VOID',10)}")


def _service(build, interface):
    (svc,) = [s for s in build.services if s.interface == interface]
    return svc


def test_two_services_linked_through_their_class_literals_not_their_positions():
    """2.3–2.7: the constructor that passes the path belongs to the class whose literal is
    created with the proxy's name (``_=C.prototype=…; _.gC=function(){return V}``). The
    constructors here sit in the opposite order to the methods."""
    build = derive(
        STRONG + HELPER +
        "var qa='AlphaService_Proxy',qb='BetaService_Proxy',ja='x.AlphaService',jb='x.BetaService';"
        "function Kb(){Xx.call(this,$moduleBase,'beta','BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',Zb)}"
        "function Ka(){Xx.call(this,$moduleBase,'alpha','AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',Za)}"
        "function Ma(b,c,d){var e,f;f=new Hx(b,qa,'ping');try{e=Sx(f,ja,1);Wx(e,'I');Ix(e,c);"
        "Fx(f,d,(Rx(),Ox))}catch(a){}}"
        "function Na(b,c){var e,f;f=new Hx(b,qb,'pong');try{e=Sx(f,jb,0);Fx(f,c,(Rx(),Vx))}"
        "catch(a){}}"
        "var La=Gc('x.',qa),Ra=Gc('x.',qb);"
        "_=Ka.prototype=Ja.prototype=new Yx;_.gC=function Da(){return La};"
        "_=Kb.prototype=Jb.prototype=new Yx;_.gC=function Db(){return Ra};", "")
    alpha, beta = _service(build, "x.AlphaService"), _service(build, "x.BetaService")
    assert (alpha.path, alpha.policy, alpha.linked_by) == (
        "alpha", "A" * 32, "class-literal")
    assert (beta.path, beta.policy, beta.linked_by) == ("beta", "B" * 32, "class-literal")
    assert [(m.name, m.params, m.returns) for m in alpha.methods] == [("ping", ("I",), "OBJECT")]
    assert [(m.name, m.params, m.returns) for m in beta.methods] == [("pong", (), "VOID")]


def test_linked_through_the_type_id_of_define_class():
    """2.8+: ``defineClass(typeId, superId, castMap, ctor)`` and the literal
    ``createForClass(pkg, 'X_Proxy', typeId)``; JUnitHost passes ``null`` as its path."""
    build = derive(
        STRONG + HELPER +
        "var pa='JUnitHost_Proxy',pb='GreetService_Proxy';"
        "function Ne(){Xx.call(this,ub(),null,'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',Je)}"
        "function Dw(){Xx.call(this,ub(),'greet','DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD',Aw)}"
        "function Le(b,c,d){var f,g;g=new Hx(b,pa,'getTestBlock');try{f=Sx(g,'x.JUnitHost',1);"
        "Wx(f,'I');Ix(f,c);Fx(g,d,(Rx(),Ox))}catch(a){}}"
        "function Cw(b,c,d){var f,g;g=new Hx(b,pb,'greetServer');try{f=Sx(g,'x.GreetService',1);"
        "Wx(f,'java.lang.String/2004016611');Wx(f,c);Fx(g,d,(Rx(),Ox))}catch(a){}}"
        "Jk(86,55,{},Ne);var dh=Gp('x',pa,86);Jk(91,55,{},Dw);var eh=Gp('x',pb,91);", "")
    junit, greet = _service(build, "x.JUnitHost"), _service(build, "x.GreetService")
    assert (junit.path, junit.policy, junit.linked_by) == (None, "C" * 32, "class-literal")
    assert (greet.path, greet.policy, greet.linked_by) == ("greet", "D" * 32, "class-literal")
    assert greet.methods[0].params == ("java.lang.String/2004016611",)


def test_statistics_names_and_string_counts_of_gwt_2_0_to_2_3():
    """2.0–2.3: no ServiceHelper; the method keeps ``'X_Proxy.m'`` (stats and doInvoke) and
    writes the count as a string constant (``mjd='0'``), with ``''`` interned too."""
    build = derive(
        STRONG + "var Afd='',mjd='0',vhd='1',zrd='DeskService_Proxy.logoff',"
        "wrd='DeskService_Proxy.getMenu',xrd='x.DeskService';"
        "function JJ(){FJ();Uk.call(this,$moduleBase,'svc/Desk','EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE',EJ)}"
        "function IJ(c,d){var b,e,g,i;g=new TS;!!$stats&&$stats({method:zrd,type:'begin'});"
        "i=Rk(c);try{zRc(i.b,Afd+jRc(i,xrd));zRc(i.b,Afd+jRc(i,'logoff'));zRc(i.b,mjd);e=wRc(i);"
        "Sk(c,(VRc(),URc),zrd,g,e,d)}catch(b){}}"
        "function GJ(c,d,e){var b,g,i,j;g=new TS;!!$stats&&$stats({method:wrd,type:'begin'});"
        "j=Rk(c);try{zRc(j.b,Afd+jRc(j,xrd));zRc(j.b,Afd+jRc(j,'getMenu'));zRc(j.b,vhd);"
        "zRc(j.b,Afd+jRc(j,'java.lang.Long/4227064769'));zRc(j.b,Afd+jRc(j,d));i=wRc(j);"
        "Sk(c,(VRc(),RRc),wrd,g,i,e)}catch(b){}}"
        "function VRc(){VRc=Object;RRc=new XRc;URc=new YRc}"
        "function XRc(){Ek.call(this,'OBJECT',7)}function YRc(){Ek.call(this,'VOID',10)}", "")
    (svc,) = build.services
    assert (svc.interface, svc.path, svc.linked_by) == ("x.DeskService", "svc/Desk", "single")
    assert sorted((m.name, m.params, m.returns) for m in svc.methods) == [
        ("getMenu", ("java.lang.Long/4227064769",), "OBJECT"), ("logoff", (), "VOID")]


def test_pretty_constructor_name_and_the_permutation_header_is_not_a_service():
    """2.0 PRETTY: ``$X_Proxy`` calls ``$RemoteServiceProxy(this$static, base, path, policy)``;
    ``setHeader(rb, 'X-GWT-Permutation', $strongName)`` passes a hex string too, but it is the
    permutation's own strong name."""
    build = derive(
        STRONG +
        "function $StockService_Proxy(this$static){$clinit_118();"
        "$RemoteServiceProxy(this$static, $moduleBase, 'stocks', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF');"
        "return this$static}"
        "function $OtherService_Proxy(this$static){"
        "$RemoteServiceProxy(this$static, $moduleBase, 'other', '00000000000000000000000000000000');"
        "return this$static}"
        "function $doFinish(rb){$setHeader(rb, 'X-GWT-Permutation', $strongName)}"
        "function $getPrices(this$static, symbols, callback){"
        "!!$stats && $stats({method:'StockService_Proxy.getPrices', type:'begin'});"
        "append(w.encodeBuffer, '' + $addString(w, 'x.StockService'));"
        "append(w.encodeBuffer, '' + $addString(w, 'getPrices'));append(w.encodeBuffer, '1');"
        "append(w.encodeBuffer, '' + $addString(w, '[Ljava.lang.String;/2600011424'));"
        "$doInvoke(this$static, ($clinit_166() , 'StockService_Proxy.getPrices'), 0, p, callback)}",
        "")
    stock = _service(build, "x.StockService")
    assert (stock.path, stock.linked_by) == ("stocks", "pretty-name")
    assert stock.methods[0].params == ("[Ljava.lang.String;/2600011424",)
    assert "X-GWT-Permutation" not in [s.path for s in build.services]
    assert [s.path for s in build.services if s.interface is None] == ["other"]


def test_single_service_folded_into_the_base_constructor_of_gwt_2_10():
    """2.10, one service: path and policy folded into RemoteServiceProxy's constructor, the
    interface into ``start``, the proxy name into the helper's constructor."""
    build = derive(
        STRONG +
        "function fm(a,b){this.a=a;this.b=a+'stockPrices';this.e=b;"
        "this.d='9B5196633700000000000000000000AA'}function mm(){im();fm.call(this,rb(),hm)}"
        "function Lo(a,b){this.e=a;this.a='StockService_Proxy.'+b;this.b=b;this.c=new Bp}"
        "function Ko(a,b){a.d=cm(a.e);to(a.d,'x.StockService');to(a.d,a.b);ro(a.d,b);return a.d}"
        "function to(a,b){Ao(a,''+qo(a,b))}function ro(a,b){Fo(a.a,''+b)}"
        "function jm(b,c,d){var e,f;e=new Lo(b,'getPrices');try{f=Ko(e,1);"
        "Ao(f,''+qo(f,'[Ljava.lang.String;/2600011424'));so(f,c);Jo(e,d,($o(),Wo))}catch(a){}}"
        "function km(b,c){var d,e;e=new Lo(b,'loadSymbols');try{Ko(e,0);Jo(e,c,($o(),Wo))}"
        "catch(a){}}"
        "function $o(){$o=Object;Wo=new tp}function tp(){_o.call(this,'OBJECT',7)}", "")
    (svc,) = build.services
    assert (svc.interface, svc.path, svc.policy, svc.linked_by) == (
        "x.StockService", "stockPrices", "9B5196633700000000000000000000AA", "single")
    assert sorted((m.name, m.params, m.returns) for m in svc.methods) == [
        ("getPrices", ("[Ljava.lang.String;/2600011424",), "OBJECT"), ("loadSymbols", (), "OBJECT")]


def test_names_link_only_when_nothing_else_ties_and_nothing_else_matches():
    """No class literals (class metadata disabled): ``DispatcherGwtService`` ↔
    ``DispatcherService`` share their stem and nothing else does — linked by name; a path and
    an interface that share nothing stay unlinked."""
    build = derive(
        STRONG + HELPER +
        "var jb='DispatcherGwtService',kb='EAA49B7B1A97DFBDC367A2E2573FB3B7';"
        "function pc(){Xx.call(this,rc(),jb,kb,new sc)}"
        "function qc(){Xx.call(this,rc(),'zeta','11111111111111111111111111111111',new sd)}"
        "function tc(b,c){var e,f;f=new Hx(b,'DispatcherService_Proxy','getForm');"
        "try{e=Sx(f,'x.DispatcherService',1);Wx(e,'I');Ix(e,c)}catch(a){}}"
        "function uc(b,c){var e,f;f=new Hx(b,'OmegaService_Proxy','run');"
        "try{e=Sx(f,'x.OmegaService',0)}catch(a){}}", "")
    dispatcher, omega = _service(build, "x.DispatcherService"), _service(build, "x.OmegaService")
    assert (dispatcher.path, dispatcher.linked_by) == ("DispatcherGwtService", "name")
    assert (omega.path, omega.policy, omega.linked_by) == (None, None, None)
    assert [s.path for s in build.services if s.interface is None] == ["zeta"]


def test_superdevmode_wraps_constants_in_calls():
    """SuperDevMode keeps ``soc_g$('…')`` wrappers around the policy and the interface."""
    build = derive_permutation(
        "var bb_g$='java.lang.String/2004016611';"
        "function Xyc_g$(){Vyc_g$();"
        "vyc_g$.call(this,OA_g$(),'stockPrices',soc_g$('9B51966337000000000000000000FFFF'),S_g$)}"
        "_.getPrices_0_g$=function $yc_g$(symbols_0_g$,callback_0_g$){"
        "var ex_0_g$,helper_0_g$,streamWriter_0_g$;"
        "helper_0_g$=new rUc_g$(this,'StockService_Proxy','getPrices');"
        "streamWriter_0_g$=helper_0_g$.start_4_g$(soc_g$('x.StockService'),1);"
        "streamWriter_0_g$.writeString_0_g$('[Ljava.lang.String;/2600011424');"
        "streamWriter_0_g$.writeObject_0_g$(symbols_0_g$)};"
        "function nzc_g$(){var result_0_g$={};result_0_g$[bb_g$]=[Ct_g$,Dt_g$];return result_0_g$}"
        "function Ct_g$(a){return Et_g$(a,a.r_0_g$[--a.i_0_g$])}"
        "function Et_g$(b,a){return a>0?b.t_0_g$[a-1]:null}function Dt_g$(a,b){}")
    (svc,) = build.services
    assert (svc.interface, svc.path, svc.linked_by) == ("x.StockService", "stockPrices", "single")
    assert svc.methods[0].params == ("[Ljava.lang.String;/2600011424",)
