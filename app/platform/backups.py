"""Consistent copies of an SQLite database while the service keeps serving.

SQLite's online backup API copies pages under a read transaction, so a copy
taken while workers write is a database as it was at one moment, never a torn
file. PostgreSQL has its own tool: the command prints the `pg_dump` line."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

# Pages copied per step; between steps writers may go on, and a write during
# the copy makes SQLite restart it, so the result is always one snapshot.
PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A message for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    pages: int


def pg_dump_command(url: str) -> str:
    """The line an operator runs for PostgreSQL; the password stays out of it
    (pg_dump reads PGPASSWORD or ~/.pgpass)."""
    parsed = make_url(url)
    parts = ["pg_dump", "--format=custom", "--no-owner"]
    if parsed.host:
        parts.append(f"--host={parsed.host}")
    if parsed.port:
        parts.append(f"--port={parsed.port}")
    if parsed.username:
        parts.append(f"--username={parsed.username}")
    parts += ["--file=nps-beacon.dump", parsed.database or ""]
    return " ".join(parts)


def sqlite_file(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "backup copies SQLite databases; for PostgreSQL run: " + pg_dump_command(url)
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("DATABASE_URL names no database file")
    return Path(parsed.database)


def backup_sqlite(url: str, target: Path) -> Backup:
    source_path = sqlite_file(url)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file")
    if target.resolve() == source_path.resolve():
        raise BackupError("the backup must go to another file")
    partial = target.with_name(target.name + ".partial")
    # Read-only: a backup never changes the live database or creates one.
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=PAGES_PER_STEP)
            # The copy stands alone: one file, no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {error}") from error
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its check: {check}")
    # Only a finished, checked copy gets the name asked for.
    partial.rename(target)
    return Backup(path=target, bytes=target.stat().st_size, pages=pages)
