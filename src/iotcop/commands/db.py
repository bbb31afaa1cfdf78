"""`iotcop db update|status` and `iotcop sbom FIRMWARE`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from iotcop.errors import InputError


def register(cli: click.Group) -> None:
    cli.add_command(db)
    cli.add_command(sbom)


@click.group(help="The offline vulnerability database.")
def db() -> None:
    pass


@db.command("update", help="Fetch vulnerability data and import it (nvd, osv, a URL or a file/folder).")
@click.option("--source", "source", default="osv", show_default=True,
              help="nvd | osv | an http(s) URL | a local file or folder (NVD 2.0, CVE 5, OSV, Alpine secdb, Debian security tracker JSON, CISA KEV JSON, FIRST EPSS CSV(.gz), vulndata)")
@click.option("--db", "db_path", type=click.Path(path_type=Path), default=None,
              help="database file (default: $IOTCOP_VULNDB or ~/.local/share/iotcop/vulns.sqlite)")
@click.option("--url", "base_url", default=None, help="base URL of the NVD API or the OSV bucket (mirrors, tests)")
@click.option("--ecosystem", "ecosystems", multiple=True, default=("OSS-Fuzz",), show_default=True,
              help="OSV ecosystem to fetch (repeatable)")
@click.option("--since", default=None, help="NVD: only records modified since this ISO date (at most 120 days back)")
@click.option("--delay", type=float, default=None, help="seconds between NVD requests (default 6, or 0.6 with NVD_API_KEY)")
def update_cmd(source: str, db_path: Path | None, base_url: str | None, ecosystems: tuple[str, ...],
               since: str | None, delay: float | None) -> None:
    from iotcop.vulns.update import update

    params = None
    if since:
        import datetime as dt

        try:
            start = dt.datetime.fromisoformat(since).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise InputError(f"--since {since!r} is not an ISO date") from None
        end = dt.datetime.now(dt.timezone.utc)
        params = {"lastModStartDate": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                  "lastModEndDate": end.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    result = update(source, db_path=db_path, base_url=base_url, ecosystems=ecosystems, nvd_params=params, delay=delay)
    click.echo(f"{result.db_path}: imported {result.records} records from {result.documents} document(s) "
               f"({result.fetched} download(s), {result.reused} resumed)")


@db.command("status", help="Where the database is, how old it is and what it holds.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status_cmd(db_path: Path | None, as_json: bool) -> None:
    from iotcop.vulns.db import MAX_AGE_DAYS, active_db_path, check_integrity, status

    path = db_path or active_db_path()
    if path is not None and path.is_file():
        check_integrity(path)
    st = status(path)
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    if not st.get("exists"):
        raise InputError("no vulnerability database (run 'iotcop db update')")
    kind = " (starter database shipped with iotcop)" if st["starter"] else ""
    click.echo(f"database: {st['path']}{kind}")
    click.echo(f"imported: {st['updated_at']}")
    stale = f"  - older than {MAX_AGE_DAYS} days, run 'iotcop db update'" if (st["age_days"] or 0) > MAX_AGE_DAYS else ""
    age = f"{st['age_days']} days old" if st["age_days"] is not None else "records carry no dates"
    click.echo(f"data:     newest record {st['data_date'] or 'unknown'} ({age}){stale}")
    click.echo(f"records:  {st['records']} ({st['ids']} distinct ids)")
    click.echo(f"  {'records':>7}  {'newest':10}  source")
    for name, info in st["sources"].items():
        old = "  old" if (info["age_days"] or 0) > MAX_AGE_DAYS else ""
        click.echo(f"  {info['records']:7d}  {(info['newest'] or '-')[:10]:10}  {name}{old}")


@click.command("sbom", help="Identify the components of a firmware image and write a CycloneDX 1.6 (or SPDX 2.3) SBOM.")
@click.argument("firmware", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="folder for sbom.cdx.json / sbom.spdx.json (default: print it)")
@click.option("--format", "fmt", type=click.Choice(["cyclonedx", "spdx"]), default="cyclonedx", show_default=True,
              help="cyclonedx: CycloneDX 1.6 with VEX; spdx: SPDX 2.3 JSON (components only)")
def sbom(firmware: Path, out_dir: Path | None, fmt: str = "cyclonedx") -> None:
    import tempfile

    from iotcop.report.writers import writers
    from iotcop.scan import ScanOptions, scan

    filename = writers()[fmt].FILENAME
    with tempfile.TemporaryDirectory(prefix="iotcop-sbom-") as tmp:
        target = out_dir or Path(tmp)
        scan(firmware, ScanOptions(only_checks=("vulns",), out_dir=target, outputs=(fmt,)))
        if out_dir is None:
            sys.stdout.write((target / filename).read_text())
        else:
            click.echo(str(out_dir / filename))
