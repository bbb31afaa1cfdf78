"""`iotcop securitytxt check FILE|URL`: RFC 9116 validation and what the linked policy promises."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from iotcop.errors import EXIT_FAIL


def register(cli: click.Group) -> None:
    cli.add_command(securitytxt)


@click.group()
def securitytxt() -> None:
    """security.txt (RFC 9116): where researchers report vulnerabilities."""


@securitytxt.command("check")
@click.argument("source")
@click.option("--no-fetch", is_flag=True, help="Do not follow Policy links (a URL source needs fetching).")
@click.option("--timeout", type=click.FloatRange(0.5, 120), default=10, show_default=True,
              help="Seconds per network operation.")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Trust this CA bundle for HTTPS (for a test or internal server).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(source: str, no_fetch: bool, timeout: float, ca_file: Path | None, fmt: str) -> None:
    """Validate a security.txt FILE or URL (https://example.com gets /.well-known/security.txt).

    Exit 0 when valid, 1 when it breaks RFC 9116, 2 when it cannot be read.
    """
    from iotcop.declaration.securitytxt import check_security_txt

    is_url = source.lower().startswith(("http://", "https://"))
    result = check_security_txt(source if is_url else Path(source), fetch=not no_fetch, timeout=timeout,
                                verify=ca_file if ca_file is not None else True)
    if is_url and result.errors and not result.fields and any("cannot" in e or "HTTP " in e or "TLS" in e for e in result.errors):
        from iotcop.errors import InputError

        raise InputError(result.errors[0])
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        where = result.url or source
        click.echo(f"{where}: {'valid' if result.ok else 'INVALID'}" + (" (PGP signed)" if result.signed else ""))
        for e in result.errors:
            click.echo(f"  error: {e}")
        for w in result.warnings:
            click.echo(f"  warning: {w}")
        for name, values in result.fields.items():
            for value in values:
                click.echo(f"  {name}: {value}")
        for policy in result.policy_findings:
            state = "states contact and both timelines" if policy.get("complete") else \
                f"missing: {', '.join(policy.get('missing') or [])}" if policy["reachable"] else f"not readable ({policy['error']})"
            click.echo(f"  policy {policy['url']}: {state}")
            for key in ("acknowledgement", "status_updates"):
                if policy.get(key):
                    click.echo(f"    {key.replace('_', ' ')}: {policy[key]['duration']} - {policy[key]['text'][:120]}")
    if not result.ok:
        sys.exit(EXIT_FAIL)
