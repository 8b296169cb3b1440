"""What the session learned about the live build, and the newest template of every call.

Why: a GWT client must send exactly the permutation, policy strong names, type signatures and
enum ordinals of the build it talks to, and a cabinet changes them on every redeploy. We never
hard-code them: they are learned from what the real app sends (and from its cache.js), and
forgotten together when the server says the client is out of date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scraper.browser.capture import Exchange
from scraper.errors import FlowError, ProtocolError
from scraper.gwt import Registry, Request, walk
from scraper.gwt.types import strip_crc

log = logging.getLogger(__name__)


@dataclass
class Learned:
    """Everything build-specific, from traffic and bootstrap files; one per account session.

    ``servlet_renames`` is the cabinet's naming rule for servlets never seen in traffic
    (``CabinetProfile.servlet_renames``); it is no fact of a build and survives ``forget``.
    """

    permutation: str | None = None
    module_base: str | None = None
    #: servlet path → policy strong name
    strong_names: dict[str, str] = field(default_factory=dict)
    #: service interface → servlet path, as traffic and the permutation's proxies show them
    servlets: dict[str, str] = field(default_factory=dict)
    #: binary class name → type signature exactly as the live build writes it
    signatures: dict[str, str] = field(default_factory=dict)
    #: (service interface, method) → newest exchange
    templates: dict[tuple[str, str], Exchange] = field(default_factory=dict)
    #: named facts learned by flows, e.g. ``"dispatcher.device_form" → 31``
    ordinals: dict[str, int] = field(default_factory=dict)
    generation: int = 0  # bumped on every forget(): callers can tell stale builds apart
    #: forgotten and not learned again yet (a re-learn failed): the next call re-learns first
    stale: bool = False
    #: (suffix, replacement) pairs: a servlet may be named the interface's simple name with one
    #: applied (see ``servlet_for``)
    servlet_renames: tuple[tuple[str, str], ...] = ()

    def forget(self) -> None:
        """The build changed: drop every build-specific fact."""
        self.permutation = None
        self.strong_names.clear()
        self.signatures.clear()
        self.templates.clear()
        self.ordinals.clear()
        self.generation += 1
        self.stale = True
        log.info("forgot the learned build", extra={"generation": self.generation})

    def learn_exchange(self, exchange: Exchange, registry: Registry) -> None:
        """Take what a captured exchange proves (only successful GWT answers count)."""
        if exchange.status != 200 or not (exchange.response_body or "").startswith("//OK"):
            return
        try:
            request = exchange.request(registry)
        except ProtocolError as exc:
            log.warning("captured a call we cannot decode",
                        extra={"servlet": exchange.servlet, "error": str(exc)})
            return
        if exchange.permutation:
            self.permutation = exchange.permutation
        if exchange.module_base:
            self.module_base = exchange.module_base
        self.strong_names[exchange.servlet] = request.strong_name
        self.servlets[request.service] = exchange.servlet
        self.templates[(request.service, request.method)] = exchange
        for param in request.params:
            if "/" in param.type:
                self.signatures[strip_crc(param.type)] = param.type
        for obj in walk(*(param.value for param in request.params)):
            self.signatures[obj.class_name] = obj.signature

    def learn_bootstrap(self, services: dict[str, str], signatures: dict[str, str]) -> None:
        """Strong names and signatures scraped from the live cache.js."""
        self.strong_names.update(services)
        self.signatures.update(signatures)

    def template(self, service: str, method: str) -> Exchange:
        for (iface, name), exchange in self.templates.items():
            if name == method and (iface == service or iface.endswith("." + service)):
                return exchange
        raise FlowError(f"no captured {service}.{method} call to learn from yet")

    def servlet_for(self, service: str) -> str:
        """The servlet path of a service interface: seen in traffic, else by the cabinet's naming.

        An interface never called yet is looked up among the proxies of the live cache.js as its
        simple name, or for each ``servlet_renames`` pair ``(suffix, replacement)`` as that name
        minus the suffix plus the replacement (``FooService`` → ``FooRpc`` for
        ``("Service", "Rpc")``).
        """
        for iface, servlet in self.servlets.items():
            if iface == service or iface.endswith("." + service):
                return servlet
        simple = service.rsplit(".", 1)[-1]
        candidates = [simple] + [simple.removesuffix(suffix) + replacement
                                 for suffix, replacement in self.servlet_renames]
        for candidate in candidates:
            if candidate in self.strong_names:
                return candidate
        raise FlowError(f"the servlet path of {service} is not known for this build")

    def strong_name(self, servlet: str) -> str:
        try:
            return self.strong_names[servlet]
        except KeyError:
            raise FlowError(f"no policy strong name known for {servlet}") from None

    def signature(self, class_name: str, registry: Registry) -> str:
        """The live signature of ``class_name``: learned, else the registry's default."""
        learned = self.signatures.get(class_name)
        if learned is not None:
            return learned
        default = registry.signature_for(class_name)
        if default is None:
            raise FlowError(f"no type signature known for {class_name}")
        return default

    def retarget(self, request: Request) -> Request:
        """Point a request at the live build: current strong name and module base."""
        servlet = self.servlet_for(request.service)
        request.strong_name = self.strong_name(servlet)
        if self.module_base:
            request.module_base = self.module_base
        return request
