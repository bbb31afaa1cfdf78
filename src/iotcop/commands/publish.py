"""`iotcop publish`: send a signed label and its report (or a firmware image to scan) to a label registry."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import click

from iotcop.errors import InputError


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _fail(response) -> None:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    if not isinstance(detail, str):
        detail = json.dumps(detail)[:300]
    raise InputError(f"the registry refused it ({response.status_code}): {detail}")


def _client(server: str, token: str | None, timeout: float):
    import httpx

    if not server.startswith(("http://", "https://")):
        raise InputError(f"--server {server!r}: expected http(s)://HOST[:PORT]")
    token = (token or "").strip()
    if not token:
        raise InputError("no API token: give --token TOKEN or set IOTCOP_TOKEN (`iotcop registry manufacturer add` "
                         "prints one)")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise InputError("the API token holds spaces or characters a token never has; copy it again")
    return httpx.Client(base_url=server.rstrip("/"), timeout=timeout,
                        headers={"Authorization": f"Bearer {token}", "User-Agent": "iotcop-publish"})


def _post_with_retries(client, url: str, attempts: int = 4, **kwargs):
    """Retried with the same idempotency key, so a lost answer never publishes twice."""
    import httpx

    for attempt in range(attempts):
        try:
            response = client.post(url, **kwargs)
        except httpx.TransportError as exc:
            if attempt == attempts - 1:
                raise InputError(f"cannot reach the registry: {exc}") from None
        else:
            if response.status_code not in (429, 502, 503, 504) or attempt == attempts - 1:
                return response
            wait = float(response.headers.get("retry-after", "1") or 1)
            time.sleep(min(wait, 10))
            continue
        time.sleep(0.5 * 2 ** attempt)
    raise AssertionError("unreachable")


def register(cli: click.Group) -> None:
    @cli.command("publish")
    @click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--server", required=True, help="The registry, e.g. https://labels.example.org")
    @click.option("--token", envvar="IOTCOP_TOKEN", default="",
                  help="The manufacturer's API token (or set IOTCOP_TOKEN, which keeps it out of the process list).")
    @click.option("--scan", "firmware", type=click.Path(path_type=Path, dir_okay=False),
                  help="Upload this firmware image for a server-side scan instead of publishing a label.")
    @click.option("--declaration", type=click.Path(path_type=Path, dir_okay=False),
                  help="Manufacturer declaration sent with --scan.")
    @click.option("--wait", is_flag=True, help="With --scan: wait for the scan and save its report.json.")
    @click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
                  help="With --scan --wait: where report.json goes.")
    @click.option("--idempotency-key", help="Default: derived from the files' contents, so repeating is harmless.")
    @click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request.")
    def publish(files, server, token, firmware, declaration, wait, out, idempotency_key, timeout) -> None:
        """Publish LABEL.json with the REPORT.json it was made from; or --scan FIRMWARE.

        The label must be signed by a key registered for your manufacturer account.
        """
        if firmware is not None:
            if files:
                raise InputError("give either LABEL.json REPORT.json or --scan FIRMWARE, not both")
            _scan(server, token, firmware, declaration, wait, out, idempotency_key, timeout)
            return
        if len(files) != 2:
            raise InputError("expected LABEL.json and REPORT.json")
        label, report = (_read(p) for p in files)
        key = idempotency_key or "label-" + hashlib.sha256(label).hexdigest()[:40]
        with _client(server, token, timeout) as client:
            response = _post_with_retries(client, "/api/v1/labels", headers={"Idempotency-Key": key}, files={
                "label": (files[0].name, label, "application/json"),
                "report": (files[1].name, report, "application/json")})
        if response.status_code not in (200, 201):
            _fail(response)
        data = response.json()["label"]
        state = "published" if response.status_code == 201 else "already published"
        click.echo(f"{state}: label {data['id']}, firmware {data['firmware_version'] or '-'}, level {data['level']}")
        click.echo(server.rstrip("/") + data["page_url"])


def _scan(server, token, firmware: Path, declaration: Path | None, wait: bool, out: Path, key, timeout) -> None:
    from iotcop.files import write_atomic
    from iotcop.files import file_sha256

    try:
        digest = file_sha256(firmware)
    except OSError as exc:
        raise InputError(f"{firmware}: cannot read ({exc.strerror})") from None
    key = key or "scan-" + digest[:40]
    with _client(server, token, max(timeout, 600.0)) as client:
        with open(firmware, "rb") as fw:
            files = {"firmware": (firmware.name, fw, "application/octet-stream")}
            if declaration is not None:
                files["declaration"] = (declaration.name, _read(declaration), "application/yaml")
            response = _post_with_retries(client, "/api/v1/scans", headers={"Idempotency-Key": key}, files=files,
                                          attempts=1)
        if response.status_code not in (200, 202):
            _fail(response)
        job = response.json()
        click.echo(f"scan job {job['id']}: {job['status']}")
        if not wait:
            return
        deadline = time.monotonic() + 4 * 3600
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(2)
            status = client.get(f"/api/v1/scans/{job['id']}")
            if status.status_code != 200:
                _fail(status)
            job = status.json()
        if job["status"] != "done":
            print(f"iotcop: error: the scan {job['status']}: {job.get('error') or ''}", file=sys.stderr)
            sys.exit(2)
        report = client.get(job["report_url"])
        if report.status_code != 200:
            _fail(report)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "report.json", report.content)
        click.echo(f"wrote {out / 'report.json'} (make the label with: iotcop label make {out / 'report.json'} ...)")
