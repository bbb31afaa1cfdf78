"""File names that are not UTF-8 (common in vendor images) reach every report as readable \\xNN text."""

from __future__ import annotations

import io
import json
import os
import tarfile

NAME = b"etc/conf\xff\xfename"


def _rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(os.fsencode(root), NAME), "wb") as fh:
        fh.write(b"password=Secret123\n")
    return root


def test_directory_scan_reports_non_utf8_names(tmp_path, cli):
    result = cli("scan", _rootfs(tmp_path), "--out", tmp_path / "out", "-q")
    assert result.code in (0, 1), result.stderr
    raw = (tmp_path / "out" / "report.json").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 throughout
    assert "/etc/conf\\\\xff\\\\xfename" in raw.decode()  # the JSON-escaped backslash of \xff
    for name in ("report.sarif", "report.html", "sbom.cdx.json", "consumer.html"):
        (tmp_path / "out" / name).read_bytes().decode("utf-8")


def test_image_scan_reports_non_utf8_names(tmp_path, cli):
    image = tmp_path / "fw.tar"
    with tarfile.open(image, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
        for name, data in ((b"etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), (NAME, b"x=1\n"),
                           (b"bin/\xffdir/tool", b"\x7fELF")):
            info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = cli("scan", image, "--out", tmp_path / "out", "-q")
    assert result.code in (0, 1), result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_bytes().decode("utf-8"))
    assert report["extraction"]["status"] != "failed"
