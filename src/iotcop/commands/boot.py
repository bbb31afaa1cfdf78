"""`iotcop boot ROOTFS_OR_IMAGE`: what the image starts at boot, by what, as whom and under which condition."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import click

from iotcop.errors import InputError


def register(cli: click.Group) -> None:
    cli.add_command(boot)


@click.command()
@click.argument("target", type=click.Path(path_type=Path, exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True,
              help="Also list bare program names found in manager binaries (confidence 'name-only').")
@click.option("--chain", "full_chain", is_flag=True, help="Show each start path in full (file:line steps).")
def boot(target: Path, fmt: str, show_all: bool, full_chain: bool) -> None:
    """Show what a root filesystem (directory) or firmware image starts at boot.

    Follows inittab, rc scripts, procd, systemd, inetd/xinetd, cron and command lines inside manager
    binaries.  Exit 0 on success, 2 when the target cannot be read.
    """
    from iotcop.boot import build_boot_model

    work = None
    try:
        if target.is_dir():
            from iotcop.firmware.inventory import inventory_tree

            fw = inventory_tree(target)
        else:
            from iotcop.firmware.extract import extract
            from iotcop.firmware.inventory import build_firmware

            work = Path(tempfile.mkdtemp(prefix="iotcop-boot-"))
            extraction = extract(target, work)
            if not extraction.roots:
                raise InputError(f"{target}: no root filesystem found in the image")
            fw = build_firmware(work, extraction.roots, extraction.extract_dir, extraction.partitions)
        started = time.perf_counter()
        model = build_boot_model(fw)
        seconds = time.perf_counter() - started
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    if fmt == "json":
        click.echo(json.dumps(model.to_dict(), indent=2))
        return
    from iotcop.boot.render import render_text

    render_text(model, show_all=show_all, full_chain=full_chain)
    click.echo(f"model built in {seconds:.2f} s")
