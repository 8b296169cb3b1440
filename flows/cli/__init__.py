"""The ``vats`` command line. Only this package configures logging handlers and prints."""

from __future__ import annotations

import typer

from flows.cli import gwt

app = typer.Typer(
    name="vats",
    help="Automate the MTS Virtual PBX cabinet (vpbx.mts.ru) over GWT-RPC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(gwt.app, name="gwt")


@app.command()
def demo() -> None:
    """Run the main job against the sandbox (for now: decode the captured MTS payloads)."""
    from flows.cli.demo_run import run

    run()


def main() -> None:
    """Console-script entry point."""
    app()
