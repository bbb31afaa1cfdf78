"""Small tree builders shared by the surface/hardening/updates/privacy/deletion/input tests."""

from __future__ import annotations

import os
from pathlib import Path

from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree


def make_tree(root: Path, files: dict[str, str | bytes], modes: dict[str, int] | None = None,
              links: dict[str, str] | None = None) -> Path:
    for rel, content in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    for rel, target in (links or {}).items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    for rel, mode in (modes or {}).items():
        os.chmod(root / rel.lstrip("/"), mode)
    return root


def run(cls, root: Path):
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


def titles(result) -> list[str]:
    return [f.title for f in result.findings]
