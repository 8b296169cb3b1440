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


def render(trunks: Sequence[Trunk], *, fmt: str, columns: Sequence[str], show_secrets: bool,
           output: Path | None, console: Console) -> None:
    data = rows(trunks, columns, show_secrets)
    if fmt == "xlsx":
        if output is None:
            raise UsageError("--format xlsx needs --output FILE")
        _xlsx(data, columns, output)
        return
    if fmt == "table":
        if output is not None:
            text = _csv(data, columns) if output.suffix == ".csv" else _plain_table(data, columns)
            output.write_text(text, encoding="utf-8")
        else:
            _print_table(data, columns, console)
        return
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


def check_format(fmt: str, output: Path | None) -> None:
    """Refuse a format (or a missing --output) before the inventory runs, not after."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "xlsx" and output is None:
        raise UsageError("--format xlsx needs --output FILE")


def _print_table(data: list[dict[str, Any]], columns: Sequence[str], console: Console) -> None:
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in data:
        # Text, not str: rich parses a str cell as markup, so a SIP password like "a[b]c"
        # would lose its "[b]" on screen.
        table.add_row(*(Text("" if row[c] is None else str(row[c])) for c in columns))
    # Never fold or cut a value. With overflow="fold" every value was split over lines as soon
    # as the table was wider than the console — always, when stdout is a pipe (80 columns):
    # "790061" / "30128" cannot be copied or grepped. Print at the table's natural width;
    # a narrower terminal wraps the long lines itself.
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
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
    writer.writerows(data)
    return buffer.getvalue()


def _plain_table(data: list[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = {c: max([len(c), *(len(str(r[c])) for r in data)]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str("" if r[c] is None else r[c]).ljust(widths[c]) for c in columns)
              for r in data]
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
