"""Server-side scans: an uploaded firmware image and declaration become a report through the job table,
and a job that a stopped server left behind runs when the next server starts."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

pytestmark = pytest.mark.slow


def _firmware_tar(tmp_path: Path) -> bytes:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:$1$abcdefgh$rV6RhG4no19bGJfmub3Ui1:19000:0:99999:7:::\n")
    shutil.copy("/bin/true", root / "bin/true")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(root, arcname=".")
    return buf.getvalue()


def _declaration() -> bytes:
    template = Path(__file__).resolve().parents[2] / "src/iotcop/declaration/template.yaml"
    data = yaml.safe_load(template.read_text())
    data["firmware_version"] = "2.0.0"
    return yaml.safe_dump(data).encode()


def test_uploaded_firmware_is_scanned_by_a_job_that_survives_a_restart(sqlite_registry_factory, key_dirs, tmp_path):
    from starlette.testclient import TestClient

    from iotcop.registry.app import create_app
    from iotcop.registry.models import AuditEntry, ScanJob
    from iotcop.registry.service import add_manufacturer

    app, settings = sqlite_registry_factory()
    with app.state.sessions() as s:
        _, token = add_manufacturer(s, "Example Devices Ltd", (key_dirs[0] / "label-signing.pub").read_bytes())
        s.commit()
    auth = {"Authorization": f"Bearer {token}"}
    firmware, declaration = _firmware_tar(tmp_path), _declaration()
    files = {"firmware": ("fw.tar.gz", firmware, "application/gzip"),
             "declaration": ("decl.yaml", declaration, "application/yaml")}

    # First server: takes the upload but stops before any worker picks it up.
    first = create_app(settings, start_jobs=False)
    with TestClient(first) as c:
        job = c.post("/api/v1/scans", headers=auth | {"Idempotency-Key": "fw-2.0.0"}, files=files)
        assert job.status_code == 202, job.text
        again = c.post("/api/v1/scans", headers=auth | {"Idempotency-Key": "fw-2.0.0"}, files=files)
        assert again.status_code == 200 and again.json()["id"] == job.json()["id"]
        bad = c.post("/api/v1/scans", headers=auth, files={
            "firmware": ("fw.bin", b"x", "application/octet-stream"),
            "declaration": ("decl.yaml", b"schema: iotcop.declaration/1\nproduct: 3\n", "application/yaml")})
        assert bad.status_code == 422 and "declaration" in bad.json()["detail"]
    job_id = job.json()["id"]
    with first.state.sessions() as s:  # as if the server died in the middle of the scan
        s.execute(update(ScanJob).where(ScanJob.id == job_id).values(status="running"))
        s.commit()
    first.state.engine.dispose()

    # Second server: queues the interrupted job again and runs it.
    second = create_app(settings)
    with TestClient(second) as c:
        deadline = time.monotonic() + 240
        state = c.get(f"/api/v1/scans/{job_id}", headers=auth).json()
        while state["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
            state = c.get(f"/api/v1/scans/{job_id}", headers=auth).json()
        assert state["status"] == "done", state
        assert state["firmware_sha256"] and state["declaration"] is True and state["attempts"] == 1
        report = c.get(state["report_url"], headers=auth)
        assert report.status_code == 200
        data = report.json()
        assert data["schema"] == "iotcop.report/1" and data["declaration"]["firmware_version"] == "2.0.0"
        assert any("password" in f["title"].lower() for f in data["findings"])
        # another manufacturer cannot see it
        with second.state.sessions() as s:
            _, other = add_manufacturer(s, "Someone Else", None)
            s.commit()
        assert c.get(f"/api/v1/scans/{job_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert not (settings.upload_dir / job_id).exists()  # the upload is removed once the job has finished
    with second.state.sessions() as s:
        assert [e.action for e in s.query(AuditEntry).filter(AuditEntry.action == "scan.submit")] == ["scan.submit"]
    second.state.engine.dispose()
