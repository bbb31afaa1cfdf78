"""`iotcop keys init`: the Ed25519 key pair that signs consumer labels."""

from __future__ import annotations

from pathlib import Path

import click


def register(cli: click.Group) -> None:
    @cli.group()
    def keys() -> None:
        """Label signing keys."""

    @keys.command("init")
    @click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False),
                  help="Where to write label-signing.key and label-signing.pub "
                       "(default: $IOTCOP_KEYS or ~/.config/iotcop/keys).")
    @click.option("--force", is_flag=True, help="Replace an existing key pair.")
    def keys_init(directory: Path | None, force: bool) -> None:
        """Create a new Ed25519 key pair for signing labels (the private key is readable by you only)."""
        from iotcop.label.signing import (
            default_key_dir,
            init_keys,
            key_id,
            load_public_key,
        )

        private, public = init_keys(directory or default_key_dir(), force=force)
        click.echo(f"private key: {private}")
        click.echo(f"public key:  {public}  (give this to whoever verifies labels)")
        click.echo(f"key id:      {key_id(load_public_key(public))}")
