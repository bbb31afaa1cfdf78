"""`iotcop label make|verify`: the signed consumer security label."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iotcop.errors import EXIT_FAIL


def register(cli: click.Group) -> None:
    @cli.group()
    def label() -> None:
        """Consumer security label: make one from a report, or verify one offline."""

    @label.command("make")
    @click.argument("report", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--key", "key_path", type=click.Path(path_type=Path),
                  help="Private key file or key folder (default: $IOTCOP_KEYS or ~/.config/iotcop/keys).")
    @click.option("--declaration", "declaration_path", type=click.Path(path_type=Path, dir_okay=False),
                  help="Manufacturer declaration (product, firmware version, support period, contact).")
    @click.option("--registry-url", help="The product registry; the QR code points to URL/<product id> "
                                         "(or URL with {id} replaced).")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
                  help="Folder for label.json, label.svg, label.png and label.pdf.")
    def label_make(report: Path, key_path, declaration_path, registry_url, out_dir: Path) -> None:
        """Make label.json (signed), label.svg, label.png and label.pdf from REPORT (report.json)."""
        from iotcop.files import write_atomic
        from iotcop.label.make import build_label, render_pdf, render_png, render_svg
        from iotcop.label.signing import (
            default_key_dir,
            key_id,
            load_private_key,
            sign_label,
        )
        from iotcop.report.load import read_declaration, read_report

        key = load_private_key(key_path or default_key_dir())
        assessment, raw = read_report(report)
        data = build_label(assessment, raw, read_declaration(declaration_path), registry_url)
        signed = sign_label(data, key)
        svg = render_svg(data, key_id(key.public_key()))
        pdf = render_pdf(svg)
        png = render_png(pdf)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, content in (("label.svg", svg), ("label.pdf", pdf), ("label.png", png), ("label.json", signed)):
            write_atomic(out_dir / name, content)
        click.echo(f"level {data['level']}: {data['level_meaning']}")
        for reason in data["level_limits"][:5]:
            click.echo(f"  not higher because: {reason}")
        click.echo(f"wrote {out_dir}/label.json (signed by key {key_id(key.public_key())}), label.svg, label.png, label.pdf")

    @label.command("verify")
    @click.argument("label_file", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--key", "key_path", type=click.Path(path_type=Path),
                  help="Trusted public key file or key folder (default: $IOTCOP_KEYS or ~/.config/iotcop/keys).")
    def label_verify(label_file: Path, key_path) -> None:
        """Check offline that LABEL_FILE is exactly what the trusted key signed.

        Exit 0: valid; 1: changed, or signed by another key; 2: unreadable file or key.
        """
        from iotcop.errors import InputError
        from iotcop.label.signing import (
            LabelInvalid,
            default_key_dir,
            load_public_key,
            verify_label,
        )

        public = load_public_key(key_path or default_key_dir())
        try:
            data = label_file.read_bytes()
        except OSError as exc:
            raise InputError(f"{label_file}: cannot read ({exc.strerror})") from None
        try:
            label = verify_label(data, public)
        except LabelInvalid as exc:
            print(f"iotcop: label INVALID: {label_file}: {exc}", file=sys.stderr)
            sys.exit(EXIT_FAIL)
        product = label.get("product", {})
        click.echo(f"label valid: {product.get('name')} {product.get('model') or ''}".rstrip()
                   + f", firmware {label.get('firmware', {}).get('version')}, level {label.get('level')}")
