"""`iotcop serve`: the public label registry; `iotcop registry ...`: its accounts, tokens and keys."""

from __future__ import annotations

from pathlib import Path

import click

_DB_HELP = "Database: sqlite:///PATH (default: a file in ~/.local/share/iotcop/registry) or postgresql://USER@HOST/DB."


def _settings(db: str | None, data_dir: Path | None, **extra):
    from iotcop.registry.config import Settings, default_data_dir

    return Settings(db_url=db or "", data_dir=data_dir or default_data_dir(), **extra)


def _admin_session(db: str | None, data_dir: Path | None):
    from iotcop.registry.db import make_engine, migrate, sessions

    engine = make_engine(_settings(db, data_dir).db_url)
    migrate(engine)
    return sessions(engine)()


def _registry_errors(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from iotcop.errors import InputError
        from iotcop.registry.service import RegistryError

        try:
            return fn(*args, **kwargs)
        except RegistryError as exc:
            raise InputError(exc.message) from None

    return wrapper


def register(cli: click.Group) -> None:
    db_option = click.option("--db", envvar="IOTCOP_REGISTRY_DB", help=_DB_HELP)
    data_option = click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False),
                               envvar="IOTCOP_REGISTRY_DATA", help="Uploads and the default SQLite file.")

    @cli.command("serve")
    @db_option
    @data_option
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
    @click.option("--public-url", default="",
                  help="The registry's address as seen from outside, e.g. https://labels.example.org: links, "
                       "redirects and the feed use it, never a client's Host header (default: http://HOST:PORT).")
    @click.option("--scan-workers", default=1, show_default=True, type=click.IntRange(1, 64),
                  help="Server-side scans run at once.")
    @click.option("--scan-engine", type=click.Choice(["local", "celery"]), default="local", show_default=True,
                  help="local: child processes of this server; celery: the batch workers through Redis.")
    @click.option("--broker", default="", help="redis://HOST:PORT/DB for --scan-engine celery.")
    @click.option("--rate", "read_rate", type=click.FloatRange(0.1), default=50.0, show_default=True,
                  help="Page and API reads per second per client address (bursts of 4x).")
    @click.option("--write-rate", type=click.FloatRange(0.1), default=10.0, show_default=True,
                  help="Writes per second per client address (bursts of 6x).")
    @click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info"]), default="info")
    def serve(db, data_dir, host, port, public_url, scan_workers, scan_engine, broker, read_rate, write_rate,
              log_level) -> None:
        """Run the public label registry web app (product pages, label check, manufacturer API)."""
        import uvicorn

        from iotcop.errors import InputError
        from iotcop.registry.app import create_app
        from iotcop.registry.config import RateLimit

        if scan_engine == "celery" and not broker:
            raise InputError("--scan-engine celery needs --broker redis://HOST:PORT/DB")
        if not public_url:
            public_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        settings = _settings(db, data_dir, public_url=public_url, scan_workers=scan_workers, scan_engine=scan_engine,
                             celery_broker=broker, read_limit=RateLimit(read_rate, read_rate * 4),
                             write_limit=RateLimit(write_rate, write_rate * 6))
        app = create_app(settings)
        click.echo(f"iotcop registry on http://{host}:{port}/ (database {settings.db_url.split('://')[0]})", err=True)
        uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, proxy_headers=False,
                    timeout_graceful_shutdown=10)

    @cli.group("registry")
    def registry() -> None:
        """Administer a label registry's database: manufacturers, API tokens, signing keys."""

    @registry.group("manufacturer")
    def manufacturer() -> None:
        """Manufacturer accounts."""

    @manufacturer.command("add")
    @click.argument("name")
    @click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
                  help="The manufacturer's label-signing public key (label-signing.pub).")
    @db_option
    @data_option
    @_registry_errors
    def manufacturer_add(name, key_path, db, data_dir) -> None:
        """Create manufacturer NAME with its signing key; prints its API token (shown this once only)."""
        from iotcop.errors import InputError
        from iotcop.registry.service import add_manufacturer

        try:
            pem = key_path.read_bytes()
        except OSError as exc:
            raise InputError(f"{key_path}: cannot read ({exc.strerror})") from None
        with _admin_session(db, data_dir) as session:
            m, token = add_manufacturer(session, name, pem)
            session.commit()
            click.echo(f"manufacturer {m.name} (id {m.id}), key {m.keys[0].key_id if m.keys else '-'}", err=True)
            click.echo("API token (store it now, it is not shown again):", err=True)
            click.echo(token)

    @manufacturer.command("list")
    @db_option
    @data_option
    def manufacturer_list(db, data_dir) -> None:
        """Manufacturers with their keys and token counts."""
        from sqlalchemy import func, select

        from iotcop.registry.models import ApiToken, Manufacturer

        with _admin_session(db, data_dir) as session:
            for m in session.scalars(select(Manufacturer).order_by(Manufacturer.name)):
                tokens = session.scalar(select(func.count()).select_from(ApiToken).where(
                    ApiToken.manufacturer_id == m.id, ApiToken.revoked_at.is_(None)))
                keys = ", ".join(k.key_id + (" (revoked)" if k.revoked_at else "") for k in m.keys) or "-"
                click.echo(f"{m.name}\tkeys: {keys}\tactive tokens: {tokens}")

    @registry.group("token")
    def token() -> None:
        """API tokens."""

    @token.command("add")
    @click.argument("name")
    @db_option
    @data_option
    @_registry_errors
    def token_add(name, db, data_dir) -> None:
        """A new API token for manufacturer NAME (shown this once only)."""
        from iotcop.registry.service import add_token, find_manufacturer

        with _admin_session(db, data_dir) as session:
            value = add_token(session, find_manufacturer(session, name))
            session.commit()
            click.echo(value)

    @token.command("revoke")
    @click.argument("prefix")
    @db_option
    @data_option
    @_registry_errors
    def token_revoke(prefix, db, data_dir) -> None:
        """Revoke the token(s) starting with PREFIX (the 8 characters after 'iotcop_')."""
        from iotcop.errors import InputError
        from iotcop.registry.security import token_prefix
        from iotcop.registry.service import revoke_token

        with _admin_session(db, data_dir) as session:
            n = revoke_token(session, token_prefix(prefix) if prefix.startswith("iotcop_") else prefix[:8])
            session.commit()
        if n == 0:
            raise InputError(f"no active token starts with {prefix!r}")
        click.echo(f"revoked {n} token(s)")

    @registry.group("key")
    def key() -> None:
        """Label-signing keys."""

    @key.command("add")
    @click.argument("name")
    @click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), required=True)
    @db_option
    @data_option
    @_registry_errors
    def key_add(name, key_path, db, data_dir) -> None:
        """Register another signing key for manufacturer NAME."""
        from iotcop.errors import InputError
        from iotcop.registry.service import add_key, find_manufacturer

        try:
            pem = key_path.read_bytes()
        except OSError as exc:
            raise InputError(f"{key_path}: cannot read ({exc.strerror})") from None
        with _admin_session(db, data_dir) as session:
            k = add_key(session, find_manufacturer(session, name), pem)
            session.commit()
            click.echo(f"registered key {k.key_id}")

    @key.command("revoke")
    @click.argument("key_id")
    @click.option("--reason", required=True, help="Why (shown with every label the key signed).")
    @db_option
    @data_option
    @_registry_errors
    def key_revoke(key_id, reason, db, data_dir) -> None:
        """Revoke signing key KEY_ID: every label it signed shows as revoked, with the date and reason."""
        from iotcop.registry.service import revoke_key

        with _admin_session(db, data_dir) as session:
            key = revoke_key(session, key_id, reason)
            session.commit()
            click.echo(f"revoked key {key_id} on {key.revoked_at.date().isoformat()}: {key.revoked_reason}")
