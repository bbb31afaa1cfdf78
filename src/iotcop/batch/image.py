"""One image of a batch: scan it (or reuse a stored result) and hand back the rendered files.

The same function runs in a local pool process and in a Celery worker.  It returns
the output files as bytes instead of writing them, so the batch driver alone writes
results (atomically, once per result key), whichever machine did the work.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from iotcop import __version__

DEFAULT_FORMATS = ("json", "html", "sarif", "cyclonedx")


@dataclass
class ImageJob:
    path: str
    sha256: str
    formats: tuple[str, ...] = DEFAULT_FORMATS
    only_checks: tuple[str, ...] = ()
    jobs: int | None = None  # checks in parallel inside this one scan
    extract_timeout: float = 900.0
    cache_dir: str | None = None  # None: the default cache; "" : no cache
    budget: float = 1800.0  # seconds the whole image may take
    profile: str | None = None  # scan profile (iotcop.profiles); None: the default
    test_delay: float = 0.0  # seconds to sleep before scanning; only honoured with IOTCOP_TEST_HOOKS=1
    # The manufacturer declaration travels as text inside the job, so a worker on another machine needs
    # no access to the submitter's disk for it (the image itself is read by path).
    declaration: str | None = None  # its YAML or JSON text; None: scan without a declaration
    declaration_name: str = "declaration"  # the file name the report and its evidence lines give it
    fetch: bool = False  # fetch the declaration's public pages (security.txt, policy, support period)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ImageJob":
        data = dict(data)
        data["formats"] = tuple(data.get("formats") or DEFAULT_FORMATS)
        data["only_checks"] = tuple(data.get("only_checks") or ())
        return cls(**data)


def result_key(sha256: str) -> str:
    """Where a result lives: the image content and the tool version, nothing else."""
    return f"{sha256}-{__version__}"


@dataclass
class ImageResult:
    sha256: str
    path: str
    status: str  # done | failed
    exit_code: int | None = None
    seconds: float = 0.0
    reused: str = ""  # "image" when the whole assessment came from the cache
    checks_reused: int = 0
    checks_run: int = 0
    summary: dict = field(default_factory=dict)
    error: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    worker: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(assessment: dict) -> dict:
    """The row of the batch summary for one report."""
    verdicts: dict[str, int] = {}
    for v in assessment.get("provisions", []):
        verdicts[v["verdict"]] = verdicts.get(v["verdict"], 0) + 1
    severities: dict[str, int] = {}
    for f in assessment.get("findings", []):
        severities[f["severity"]] = severities.get(f["severity"], 0) + 1
    psti_fail = [g["id"] for g in assessment.get("psti", []) if g.get("verdict") == "FAIL"]
    return {
        "findings": len(assessment.get("findings", [])),
        "severities": severities,
        "verdicts": verdicts,
        "psti_failing": psti_fail,
        "extraction": assessment.get("extraction", {}).get("status"),
        "files": assessment.get("extraction", {}).get("files"),
        "components": len(assessment.get("components", [])),
    }


def _maybe_test_delay(job: ImageJob) -> None:
    # Lets the fault tests catch a worker in the middle of a job; ignored unless the test switch is set.
    if job.test_delay and os.environ.get("IOTCOP_TEST_HOOKS") == "1":
        time.sleep(job.test_delay)


def scan_key(only_checks: tuple[str, ...] = (), profile: str | None = None) -> str:
    """What a whole-image result depends on besides the image bytes."""
    import hashlib
    import json

    from iotcop.cache.store import source_digest
    from iotcop.profiles import get_profile
    from iotcop.scan import select_checks
    from iotcop.vulns.db import fingerprint

    checks = sorted((c.ID, c.VERSION, source_digest(c), c.environment()) for c in select_checks(only_checks))
    parts = [__version__, checks, fingerprint(), repr(get_profile(profile))]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def analyse(job: ImageJob) -> ImageResult:
    from iotcop.cache.store import AnalysisCache
    from iotcop.errors import IotcopError
    from iotcop.model import Assessment
    from iotcop.report.writers import OutputContext, write_outputs
    from iotcop.scan import ScanOptions, exit_code_for, scan

    start = time.perf_counter()
    result = ImageResult(sha256=job.sha256, path=job.path, status="failed", worker=os.uname().nodename)
    _maybe_test_delay(job)
    cache = AnalysisCache(Path(job.cache_dir) if job.cache_dir else None) if job.cache_dir != "" else None
    key = scan_key(job.only_checks, job.profile) if cache else ""
    tmp = Path(tempfile.mkdtemp(prefix="iotcop-batch-"))
    try:
        declaration = _load_declaration(job, tmp) if job.declaration is not None else None
        # A whole-image result depends on the declaration too, so none is reused or stored with one
        # (the per-check cache still applies: a check's key covers the declaration it was given).
        whole_image = cache is not None and declaration is None
        stored = cache.get_image(job.sha256, key) if whole_image else None
        context = OutputContext()
        if stored is not None:
            assessment = Assessment.model_validate(stored)
            result.reused = "image"
        else:
            from iotcop.firmware.limits import Limits

            options = ScanOptions(only_checks=job.only_checks, jobs=job.jobs, limits=Limits(timeout=job.extract_timeout),
                                  profile=job.profile, declaration=declaration, fetch=job.fetch, cache=cache)
            scanned = scan(Path(job.path), options)
            assessment = scanned.assessment
            if assessment.target.sha256 and assessment.target.sha256 != job.sha256:
                raise IotcopError(f"{job.path} changed while it was scanned")
            if cache is not None:
                result.checks_reused, result.checks_run = cache.hits, cache.misses
                if cache.hits:
                    assessment.notes.append(
                        f"{cache.hits} of {cache.hits + cache.misses} checks were answered from the analysis cache "
                        "(the files they read are unchanged)")
                if whole_image and assessment.extraction.status == "complete":
                    cache.put_image(job.sha256, key, assessment.to_json_dict())
            context = OutputContext(firmware=scanned.firmware, declaration=declaration)
        write_outputs(assessment, tmp, job.formats, context)
        result.files = {p.name: p.read_bytes() for p in sorted(tmp.iterdir()) if p.is_file()}
        data = assessment.to_json_dict()
        result.summary = summarise(data)
        result.exit_code = exit_code_for(assessment)
        result.status = "done"
    except IotcopError as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop a batch
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def _load_declaration(job: ImageJob, tmp: Path):
    """Validate the job's declaration text as `iotcop scan --declaration` would; named as the job says."""
    from iotcop.declaration import DeclarationError, load_declaration

    name = Path(job.declaration_name).name
    if name in ("", ".", ".."):
        name = "declaration"
    folder = tmp / ".declaration"
    folder.mkdir()
    path = folder / name
    path.write_bytes(job.declaration.encode("utf-8"))  # the exact bytes: the report carries their sha256
    try:
        declaration = load_declaration(path)
    except DeclarationError as exc:
        raise DeclarationError([e.replace(str(path), name) for e in exc.errors]) from None
    finally:
        path.unlink()
        folder.rmdir()
    return declaration.model_copy(update={"source": name})


# -- running one image in a process of its own ------------------------------------
def watch_parent(parent: int) -> None:
    # Whoever started this scan is gone (killed): stop rather than finish work nobody will collect.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.killpg(0, signal.SIGKILL)


def run_isolated(job: ImageJob, budget: float) -> ImageResult:
    """Scan in a child process (own session, killed as a group past the budget); usable from daemonic workers."""
    import base64
    import json
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "iotcop.batch.image"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(json.dumps(job.to_dict()).encode(), timeout=budget)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        return ImageResult(sha256=job.sha256, path=job.path, status="failed", seconds=budget,
                           error=f"stopped after the per-image time budget of {budget:g} s")
    finally:
        _kill_group(proc.pid)
    try:
        data = json.loads(out)
    except ValueError:
        return ImageResult(sha256=job.sha256, path=job.path, status="failed",
                           error=f"scan process died (exit code {proc.returncode})")
    data["files"] = {k: base64.b64decode(v) for k, v in data["files"].items()}
    return ImageResult(**data)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the scan and everything it started
    except (ProcessLookupError, PermissionError):
        pass


def _main() -> None:
    import base64
    import json
    import sys
    import threading

    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    job = ImageJob.from_dict(json.loads(sys.stdin.buffer.read()))
    result = analyse(job).to_dict()
    result["files"] = {k: base64.b64encode(v).decode() for k, v in result["files"].items()}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    _main()
