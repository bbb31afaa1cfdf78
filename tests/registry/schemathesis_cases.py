"""Property-based requests against the OpenAPI schema: no answer is a server error, every answer fits the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry-schemathesis")]
EXAMPLES_PER_OPERATION = 60
TRIED: list[tuple[str, int]] = []


def _build_app():
    """One registry with a manufacturer, its token and a published label, so reads and writes go deep."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from registry_support import label_for, small_report

    from iotcop.label.signing import init_keys, load_private_key
    from iotcop.registry.app import create_app
    from iotcop.registry.config import RateLimit, Settings
    from iotcop.registry.service import add_manufacturer, authenticate, publish_label

    base = Path(tempfile.mkdtemp(prefix="iotcop-schemathesis-"))
    atexit.register(shutil.rmtree, base, True)
    settings = Settings(db_url=f"sqlite:///{base / 'registry.db'}", data_dir=base / "data",
                        read_limit=RateLimit(1e6, 1e6), write_limit=RateLimit(1e6, 1e6),
                        max_firmware_bytes=64 * 1024)
    app = create_app(settings, start_jobs=False)  # uploaded scans stay queued: no scan runs here
    init_keys(base / "keys")
    with app.state.sessions() as s:
        _, token = add_manufacturer(s, "Fuzz Ltd", (base / "keys/label-signing.pub").read_bytes())
        s.commit()
        report = small_report()
        label = label_for(report, {"name": "Fuzz Cam"}, "1", load_private_key(base / "keys"))
        publish_label(s, authenticate(s, token), label, report, None)
    return app, token


APP, TOKEN = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.auth()
class ManufacturerToken:
    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = f"Bearer {data}"


# A schema cannot say "a label signed by your registered key" or "a firmware image": schema-valid uploads are
# refused by those rules (4xx), which is right, so the "valid data is accepted" check is off for the two uploads.
BUSINESS_RULES = {"POST /api/v1/labels", "POST /api/v1/scans"}


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_schema_conformance(case):
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    response = case.call()
    operation = f"{case.method} {case.path}"
    TRIED.append((operation, response.status_code))
    assert response.status_code < 500, response.text
    case.validate_response(response, excluded_checks=[positive_data_acceptance] if operation in BUSINESS_RULES else [])


def test_examples_were_tried():
    operations = {op for op, _ in TRIED}
    print(f"\nschemathesis: {len(TRIED)} requests over {len(operations)} operations, "
          f"{sum(code >= 500 for _, code in TRIED)} server errors")
    assert len(operations) >= 10 and len(TRIED) >= 200
