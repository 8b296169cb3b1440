"""Formatting inventory results: table, json, jsonl, csv, xlsx. Only output lives here."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from scraper.errors import UsageError
from scraper.models import TRUNK_COLUMNS, Trunk

FORMATS = ("table", "json", "jsonl", "csv", "xlsx")
#: ``--output FILE`` without ``--format``: the format its extension names
EXTENSIONS = {".txt": "table", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".csv": "csv", ".xlsx": "xlsx"}
#: the default table on a narrow terminal: these columns go first, in this order, until the
#: rest fits (the phone always stays); ``--columns`` chooses exactly
DROP_FIRST = ("enterprise_id", "abonent_id", "device_id", "identify_line", "marked_for_deletion",
              "blocked", "has_device", "active", "sip_password", "device_enabled", "sip_login")


def parse_columns(text: str | None) -> list[str]:
    if not text:
        return list(TRUNK_COLUMNS)
    columns = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in columns if c not in TRUNK_COLUMNS]
    if unknown:
        raise UsageError(f"unknown column(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(TRUNK_COLUMNS)}")
    return columns


def rows(trunks: Sequence[Trunk], columns: Sequence[str], show_secrets: bool) -> list[dict[str, Any]]:
    context = {"show_secrets": show_secrets}
    # one dump per trunk (the comprehension used to dump the whole model once per column)
    dumps = (t.model_dump(mode="json", context=context) for t in trunks)
    return [{c: dumped[c] for c in columns} for dumped in dumps]


def choose_format(fmt: str | None, output: Path | None, formats: Sequence[str] = FORMATS) -> str:
    """The format to write: ``--format`` when given (and known), else the one ``--output``'s
    extension names (``t.xlsx`` is xlsx, not a text table), else a table. Refused before any
    work: an unknown format, an extension that names none, a folder that does not exist."""
    if fmt is not None and fmt not in formats:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(formats)}")
    if output is not None:
        check_output(output)
    if fmt is None and output is not None:
        fmt = EXTENSIONS.get(output.suffix.lower())
        if fmt is None or fmt not in formats:
            known = ", ".join(e for e, f in EXTENSIONS.items() if f in formats)
            raise UsageError(f"--output {output}: cannot tell the format from its extension "
                             f"({known}); name it with --format {'|'.join(formats)}")
    fmt = fmt or "table"
    if fmt == "xlsx" and output is None:
        raise UsageError("--format xlsx needs --output FILE")
    return fmt


def check_output(output: Path, option: str = "--output") -> None:
    """A file we can create: its folder exists and it is not a folder itself (said before the
    inventory or the login, not after)."""
    if output.is_dir():
        raise UsageError(f"{option} {output}: is a folder; name a file in it")
    if not output.parent.is_dir():
        raise UsageError(f"{option} {output}: folder {output.parent} does not exist")


def render(trunks: Sequence[Trunk], *, fmt: str, columns: Sequence[str], show_secrets: bool,
           output: Path | None, console: Console, fit: bool = False) -> list[str]:
    """Write the rows; returns the columns a fitted table left out (``fit``: the default table
    on a terminal narrower than the table)."""
    data = rows(trunks, columns, show_secrets)
    if fmt == "xlsx":
        if output is None:
            raise UsageError("--format xlsx needs --output FILE")
        _xlsx(data, columns, output)
        return []
    if fmt == "table":
        if output is not None:
            output.write_text(_plain_table(data, columns), encoding="utf-8")
            return []
        return _print_trunks(data, columns, console, fit=fit)
    if fmt == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in data)
    elif fmt == "csv":
        text = _csv(data, columns)
    else:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        console.file.write(text)
    return []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON and CSV write it
    return str(value)


def _trunk_table(data: list[dict[str, Any]], columns: Sequence[str]) -> Table:
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in data:
        # Text, not str: rich parses a str cell as markup, so a SIP password like "a[b]c"
        # would lose its "[b]" on screen.
        table.add_row(*(Text(_cell(row[c])) for c in columns))
    return table


def natural_width(table: Table, console: Console) -> int:
    return console.measure(table, options=console.options.update_width(10_000)).maximum


def _print_trunks(data: list[dict[str, Any]], columns: Sequence[str], console: Console, *,
                  fit: bool) -> list[str]:
    """The table, every value whole. ``fit``: leave out columns (``DROP_FIRST``) until it fits
    the console's width — 170 characters on an 80-column terminal wrapped every row."""
    shown = list(columns)
    table = _trunk_table(data, shown)
    if fit:
        for column in DROP_FIRST:
            if natural_width(table, console) <= console.width:
                break
            if column in shown and len(shown) > 1:
                shown.remove(column)
                table = _trunk_table(data, shown)
    print_table(table, console)
    return [c for c in columns if c not in shown]


def print_table(table: Table, console: Console) -> None:
    """Print a rich table with every value whole, to a terminal or not.

    Never fold or cut a value. With rich's defaults every value was folded or cut ("792465…")
    as soon as the table was wider than the console — always, when stdout is a pipe (80
    columns): "790061" / "30128" cannot be copied or grepped. Print at the table's natural
    width when it is wider; a narrower terminal wraps the long lines itself.
    """
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    natural = natural_width(table, console)
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def _csv(data: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: _cell(v) for c, v in row.items()} for row in data)
    return buffer.getvalue()


def _plain_table(data: list[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(r[c]) for c in columns] for r in data]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines) + "\n"


def _xlsx(data: list[dict[str, Any]], columns: Sequence[str], output: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "trunks"
    sheet.append(list(columns))
    for row in data:
        sheet.append([row[c] for c in columns])
    book.save(output)
