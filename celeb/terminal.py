"""Text for a terminal: names and paths made safe to print, tables, progress lines."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .evaluate import printable_path


def terminal_text(value: object) -> str:
    """Text safe to print on a terminal: control characters (escape sequences) shown as \\xNN.

    >>> terminal_text("ann\\x1b[2J"), terminal_text("Đoković")
    ('ann\\\\x1b[2J', 'Đoković')
    """
    text = printable_path(value) if isinstance(value, Path) else str(value)
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def format_table(rows: list[dict]) -> str:
    """Rows of the same keys as aligned columns, every cell terminal-safe."""
    if not rows:
        return "(empty)"
    columns = list(rows[0])
    cells = [{c: terminal_text(r[c]) for c in columns} for r in rows]
    widths = {c: max(len(terminal_text(c)), *(len(r[c]) for r in cells)) for c in columns}
    lines = ["  ".join(terminal_text(c).ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in cells]
    return "\n".join(lines)


def progress_printer(what: str) -> Callable[[int, int], None]:
    """A progress callback printing "what: done/total" to stderr (one line, redrawn, on a terminal)."""

    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{what}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
        elif done == total or done % 50 == 0:
            print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)

    return report
