"""Registry settings: one object, built from command-line options or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from iotcop.errors import InputError


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iotcop" / "registry"


def default_db_url(data_dir: Path | None = None) -> str:
    return f"sqlite:///{(data_dir or default_data_dir()) / 'registry.db'}"


@dataclass
class RateLimit:
    """A token bucket: `rate` requests a second on average, bursts of up to `burst`."""

    rate: float
    burst: float


@dataclass
class Settings:
    db_url: str = ""
    data_dir: Path = field(default_factory=default_data_dir)
    # How the registry is reached from outside: every link, redirect and feed address is built from it, never
    # from the Host header a client sends.  `iotcop serve` defaults it to http://HOST:PORT.
    public_url: str = "http://127.0.0.1:8000"
    # Upload limits (bytes).
    max_label_bytes: int = 64 * 1024
    max_report_bytes: int = 16 * 1024 * 1024
    max_declaration_bytes: int = 2 * 1024 * 1024
    max_firmware_bytes: int = 256 * 1024 * 1024
    # Rate limits per client address: reads (pages, API GETs) and writes (every POST).
    read_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=50.0, burst=200.0))
    write_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=10.0, burst=60.0))
    # Server-side scans.
    scan_workers: int = 1
    scan_timeout: float = 1800.0
    scan_engine: str = "local"  # "local" (subprocesses run by a thread pool) or "celery"
    celery_broker: str = ""
    history_limit: int = 50  # firmware versions shown on a product page
    # Threads that serve requests (database work and page rendering).  Each holds at most one database
    # connection, and only while it runs; the pool is sized from this, so no thread waits for a connection.
    request_threads: int = 16

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.db_url:
            self.db_url = default_db_url(self.data_dir)
        parts = urlsplit(self.public_url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if (parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or parts.path not in ("", "/")
                or parts.query or parts.fragment or parts.username or parts.password):
            raise InputError(f"--public-url {self.public_url!r}: expected http(s)://HOST[:PORT] (no path)")

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def pool_size(self) -> int:
        return self.request_threads + self.scan_workers + 2  # + start-up and the job queue's bookkeeping

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"
