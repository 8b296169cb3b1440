from scraper.gwt import (
    choose_permutation,
    discover_permutations,
    discover_services,
    discover_signatures,
)

NOCACHE = """function vpbxGwt(){var a='bootstrap',b='9F86D081884C7D659A2FEAA0C55AD015',c=window;
function Ob(){return 'x'}var S=[];
function T(a,b){var c=S;for(var d=0,e=a.length-1;d<e;++d){c=c[a[d]]||(c[a[d]]=[])}c[a[e]]=b}
T(['gecko1_8'],'1F3870BE274F6C49B3E31A0C6728957F');T(['safari'],'4F3A39F8A8855D9244397AB61F97306B');
T(['ie10'],"C4CA4238A0B923820DCC509A6F75849B:2");}"""

CACHE = """var $moduleName,$moduleBase;function Kq(a,b,c){this.a=a;this.b=b}
Kq.call(this,pn(),'AbonentBrowserGwtService','3D7E196DA92A574D98BAC0DEE7D909C8',b);
Kq.call(this,pn(),"DispatcherGwtService","EAA49B7B1A97DFBDC367A2E2573FB3B7",b);
var t='ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER/4095484021',
u="java.util.ArrayList/4159755760", v='[Ljava.lang.String;/2600011424';"""


def test_permutations_with_their_user_agents():
    perms = discover_permutations(NOCACHE)
    names = [p.strong_name for p in perms]
    assert names[:3] == ["1F3870BE274F6C49B3E31A0C6728957F", "4F3A39F8A8855D9244397AB61F97306B",
                         "C4CA4238A0B923820DCC509A6F75849B"]
    assert choose_permutation(perms) == "4F3A39F8A8855D9244397AB61F97306B"
    assert choose_permutation(perms, "gecko1_8") == "1F3870BE274F6C49B3E31A0C6728957F"


def test_single_permutation_without_mapping():
    assert choose_permutation(discover_permutations(
        "var strongName='9F86D081884C7D659A2FEAA0C55AD015';")) == "9F86D081884C7D659A2FEAA0C55AD015"


def test_services_and_signatures_from_cache_js():
    assert discover_services(CACHE) == {
        "AbonentBrowserGwtService": "3D7E196DA92A574D98BAC0DEE7D909C8",
        "DispatcherGwtService": "EAA49B7B1A97DFBDC367A2E2573FB3B7",
    }
    sigs = discover_signatures(CACHE)
    assert sigs["ru.cti.vpbx.shared.services.DispatcherService$DISPATCHER"].endswith("/4095484021")
    assert sigs["java.util.ArrayList"] == "java.util.ArrayList/4159755760"
    assert sigs["[Ljava.lang.String;"] == "[Ljava.lang.String;/2600011424"


def test_permutation_table_of_pairs():
    text = ('f=[["safari", "7AEC7E8A5010EF251B4717D70A3CAAC7"], '
            '["gecko1_8", "7F7582B233A825B1A13EEFD86E34B203"]]')
    perms = discover_permutations(text)
    assert choose_permutation(perms) == "7AEC7E8A5010EF251B4717D70A3CAAC7"
    assert choose_permutation(perms, "gecko1_8") == "7F7582B233A825B1A13EEFD86E34B203"
