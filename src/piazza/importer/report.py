"""What an import read, wrote and left out, table by table, with the reason for every row left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class TableReport:
    read: int = 0
    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row, reason)

    def skip(self, row: object, reason: str) -> None:
        self.skipped.append((str(row), reason))


@dataclass
class ImportReport:
    dry_run: bool = False
    tables: dict[str, TableReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # things the admin must act on
    notes: list[str] = field(default_factory=list)  # changes made on the way in
    files_copied: int = 0
    thumbnails_made: int = 0
    files_missing: list[str] = field(default_factory=list)
    gancio_version: str = ""

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())


class Progress(Protocol):
    """Told when a table starts (with its number of rows) and as rows are done."""

    def start(self, table: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def start(self, table: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass
