"""``vats demo``: what a newcomer runs first.

Until the sandbox cabinet and the inventory flow land, the demo decodes the real MTS payloads of
captures.md with our codec and shows what each one says — it does not talk to any server yet.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from fixtures.recorded.captures import ALL, fill
from scraper.gwt import Instance, default_registry, parse_request, unwrap


def _summary(value: object) -> str:
    if isinstance(value, Instance):
        shown = {k: unwrap(v) for k, v in value.fields.items()
                 if unwrap(v) not in (None, [], False) and k != "id"}
        parts = []
        for key, val in shown.items():
            if isinstance(val, list):
                val = f"[{len(val)} item(s)]"
            elif isinstance(val, Instance):
                val = val.class_name.rsplit(".", 1)[-1]
            parts.append(f"{key}={val}")
        return f"{value.class_name.rsplit('.', 1)[-1]}(" + ", ".join(parts) + ")"
    if hasattr(value, "ordinal"):
        return f"DISPATCHER#{value.ordinal}"
    return repr(unwrap(value))


def run() -> None:
    console = Console()
    registry = default_registry()
    table = Table(title="Captured MTS payloads, decoded by vats (no server contacted)")
    table.add_column("capture")
    table.add_column("service.method")
    table.add_column("parameters")
    table.add_column("bytes")
    for name, template in ALL.items():
        payload = fill(template)
        request = parse_request(payload, registry)
        params = "\n".join(_summary(p.value) for p in request.params)
        table.add_row(name, f"{request.service.rsplit('.', 1)[-1]}.{request.method}", params,
                      str(len(payload)))
    console.print(table)
    console.print("The sandbox cabinet and the inventory are not wired in yet; "
                  "`vats gwt decode` shows any payload in full.")
