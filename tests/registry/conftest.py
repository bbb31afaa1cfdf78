import itertools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from registry_support import postgres_server

_DB_NAMES = itertools.count(1)


@pytest.fixture(scope="session")
def pg():
    with postgres_server() as server:
        yield server


@dataclass
class Registry:
    client: object
    app: object
    settings: object

    def session(self):
        return self.app.state.sessions()

    def add_manufacturer(self, name: str, key_dir: Path) -> str:
        from iotcop.registry.service import add_manufacturer

        with self.session() as s:
            _, token = add_manufacturer(s, name, (key_dir / "label-signing.pub").read_bytes())
            s.commit()
        return token


def _db_url(kind: str, request, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    pg = request.getfixturevalue("pg")
    return pg.create_database(f"registry_{next(_DB_NAMES)}_{id(request) % 100000}")


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    from starlette.testclient import TestClient

    from iotcop.registry.app import create_app
    from iotcop.registry.config import RateLimit, Settings

    settings = Settings(db_url=_db_url(request.param, request, tmp_path), data_dir=tmp_path / "data",
                        read_limit=RateLimit(10000, 10000), write_limit=RateLimit(10000, 10000))
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Registry(client, app, settings)


@pytest.fixture
def sqlite_registry_factory(tmp_path):
    """Build a registry app on SQLite with chosen settings."""
    from iotcop.registry.app import create_app
    from iotcop.registry.config import RateLimit, Settings

    def build(**overrides):
        overrides.setdefault("read_limit", RateLimit(10000, 10000))
        overrides.setdefault("write_limit", RateLimit(10000, 10000))
        settings = Settings(db_url=f"sqlite:///{tmp_path / 'registry.db'}", data_dir=tmp_path / "data", **overrides)
        return create_app(settings), settings

    return build


@pytest.fixture
def key_dirs(tmp_path):
    from iotcop.label.signing import init_keys

    init_keys(tmp_path / "keys-a")
    init_keys(tmp_path / "keys-b")
    return tmp_path / "keys-a", tmp_path / "keys-b"


_ROOTFS_SHADOW = {
    # 1.0.0 ships a root password that is the user name; 1.1.0 locks the account.
    "1.0.0": "root:$1$abcdefgh$rV6RhG4no19bGJfmub3Ui1:19000:0:99999:7:::\n",
    "1.1.0": "root:*:19000:0:99999:7:::\n",
}


@pytest.fixture(scope="session")
def real_reports(tmp_path_factory):
    """Two firmware versions of one product scanned by iotcop with a declaration: {version: (report, decl)}."""
    import yaml

    from iotcop.declaration import load_declaration
    from iotcop.scan import ScanOptions, scan

    base = tmp_path_factory.mktemp("registry-scans")
    template = Path(__file__).resolve().parents[2] / "src/iotcop/declaration/template.yaml"
    out = {}
    for version, shadow in _ROOTFS_SHADOW.items():
        root = base / f"rootfs-{version}"
        (root / "etc").mkdir(parents=True)
        (root / "bin").mkdir()
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc/shadow").write_text(shadow)
        (root / "etc/version").write_text(version + "\n")
        shutil.copy("/bin/true", root / "bin/true")
        decl_data = yaml.safe_load(template.read_text())
        decl_data["firmware_version"] = version
        decl_path = base / f"decl-{version}.yaml"
        decl_path.write_text(yaml.safe_dump(decl_data))
        decl = load_declaration(decl_path)
        result = scan(root, ScanOptions(declaration=decl, fetch=False))
        import json

        report = json.dumps(result.assessment.to_json_dict(), indent=2).encode()
        out[version] = (report, decl)
    return out


@pytest.fixture
def real_labels(real_reports, key_dirs):
    """Signed labels (manufacturer key A) for both versions: {version: (label bytes, report bytes)}."""
    import json

    from iotcop.label.make import build_label
    from iotcop.label.signing import load_private_key, sign_label
    from iotcop.model import Assessment
    from iotcop.report.load import read_report  # noqa: F401 - same parsing as `iotcop label make`

    key = load_private_key(key_dirs[0])
    labels = {}
    for version, (report, decl) in real_reports.items():
        assessment = Assessment.model_validate(json.loads(report))
        data = build_label(assessment, report, decl, "http://127.0.0.1/p")
        labels[version] = (sign_label(data, key), report)
    return labels


@pytest.fixture
def scratch_dir():
    path = Path(tempfile.mkdtemp(prefix="iotcop-registry-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- the registry as a real server: uvicorn on 127.0.0.1 with SQLite or PostgreSQL ----------------------

_NAMES = itertools.count(1)


@dataclass
class Live:
    """A running registry (uvicorn child process) and an admin connection to its database."""

    kind: str
    base: str
    db_url: str
    data_dir: Path
    server_tmp: Path  # the server's TMPDIR: nothing of an upload may land there
    sessions: object

    def unique(self, name: str) -> str:
        return f"{name} {next(_NAMES)}"

    def add_manufacturer(self, name: str, key_dir: Path | None) -> str:
        from iotcop.registry.service import add_manufacturer

        with self.sessions() as s:
            _, token = add_manufacturer(s, name, (key_dir / "label-signing.pub").read_bytes() if key_dir else None)
            s.commit()
        return token

    def publish(self, token: str, label: bytes, report: bytes, **headers):
        import httpx

        return httpx.post(self.base + "/api/v1/labels", headers={"Authorization": f"Bearer {token}", **headers},
                          files={"label": ("label.json", label, "application/json"),
                                 "report": ("report.json", report, "application/json")}, timeout=60)

    def get(self, path: str, **kwargs):
        import httpx

        return httpx.get(self.base + path, timeout=60, **kwargs)

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    from registry_support import PUBLIC_URL, uvicorn_server

    from iotcop.registry.db import make_engine, migrate, sessions

    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        db = f"sqlite:///{folder / 'registry.db'}"
    else:
        db = request.getfixturevalue("pg").create_database(f"live_{next(_DB_NAMES)}_{folder.name[-6:]}".lower())
    engine = make_engine(db)
    migrate(engine)
    server_tmp = folder / "server-tmp"
    server_tmp.mkdir()
    with uvicorn_server(db, folder / "data", env={"TMPDIR": str(server_tmp)}, public_url=PUBLIC_URL) as base:
        yield Live(request.param, base, db, folder / "data", server_tmp, sessions(engine))
    engine.dispose()
