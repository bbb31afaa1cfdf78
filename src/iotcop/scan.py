"""The scan pipeline: target -> extraction -> inventory -> checks -> assessment -> outputs."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from iotcop import __version__
from iotcop.assess import Evidence, assess_provisions, roll_up
from iotcop.checks.registry import all_checks
from iotcop.checks.runner import run_checks
from iotcop.errors import InputError
from iotcop.firmware.content import ContentPass
from iotcop.firmware.extract import Extraction, Limits, extract
from iotcop.firmware.inventory import build_firmware
from iotcop.firmware.model import Firmware
from iotcop.model import Assessment, CheckRun, CheckSummary, Target, Tool
from iotcop.outputs import OutputContext, write_outputs
from iotcop.profiles import get_profile, set_profile, split_checks
from iotcop.profiles import timeouts as profile_timeouts
from iotcop.profiles import validate as profiles_validate
from iotcop.standards.catalogue import load_catalogue
from iotcop.standards.mapping import checked_mapping


class Progress(Protocol):
    """What the pipeline tells a user interface; every method is optional to act on."""

    def stage(self, name: str, total: int | None = None) -> None: ...
    def advance(self, detail: str = "") -> None: ...
    def extracting(self, files: int, size: int) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, detail: str = "") -> None:
        pass

    def extracting(self, files: int, size: int) -> None:
        pass


@dataclass
class ScanOptions:
    out_dir: Path | None = None
    work_dir: Path | None = None  # parent folder for the scan's work directory
    keep_work: bool = False
    limits: Limits = field(default_factory=Limits)
    jobs: int | None = None
    only_checks: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # output formats for out_dir; empty = every default writer
    device: str | None = None  # scan --device HOST: probe the live device and correlate it with the firmware
    device_options: Any = None  # iotcop.probe.engine.ProbeOptions for that probe
    declaration: Any = None  # iotcop.declaration.Declaration, already validated
    fetch: bool = True  # verify the declaration's public pages (security.txt, policy, support page)
    verify_tls: bool | str | Path = True  # True: system CAs; a path: CA bundle; False: no certificate check
    profile: str | None = None  # scan profile (iotcop.profiles): label, standard (the default), deep
    views: tuple[str, ...] = ()  # extra views put into the report: "ts103701" (ETSI TS 103 701 test cases)
    traffic: tuple[Path, ...] = ()  # scan --traffic CAPTURE: packet captures of the device's traffic


@dataclass
class ScanResult:
    assessment: Assessment
    work_dir: Path | None
    firmware: Firmware | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _work_directory(options: ScanOptions) -> Iterator[Path]:
    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(tempfile.mkdtemp(prefix="iotcop-", dir=parent))
    except OSError as exc:
        raise InputError(f"cannot create a work directory: {exc.strerror}") from None
    try:
        yield path
    finally:
        if not options.keep_work:
            shutil.rmtree(path, ignore_errors=True)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 4)


def select_checks(only: tuple[str, ...]) -> list:
    checks = list(all_checks())
    if not only:
        return checks
    known = {c.ID for c in checks}
    unknown = [c for c in only if c not in known and not any(k.startswith(c + ".") for k in known)]
    if unknown:
        raise InputError(f"unknown check: {', '.join(unknown)} (see 'iotcop checks list')")
    return [c for c in checks if c.ID in only or any(c.ID.startswith(o + ".") for o in only)]


def scan(source: Path, options: ScanOptions | None = None, progress: Progress | None = None) -> ScanResult:
    options = options or ScanOptions()
    progress = progress or _Silent()
    catalogue = load_catalogue()
    checked_mapping()  # stop before any work if the mapping data is inconsistent
    checks = select_checks(options.only_checks)
    if options.declaration is None:
        # Checks that compare the firmware with a declaration have nothing to compare without one.
        checks = [c for c in checks if not getattr(c, "NEEDS_DECLARATION", False)]
    profile = get_profile(options.profile)
    profiles_validate([c.ID for c in all_checks()])
    checks, left_out = split_checks(checks, profile.name)
    timer = _Timer()
    source = Path(source)
    if not source.exists() and not source.is_symlink():
        raise InputError(f"{source}: no such file or directory")
    if options.traffic:
        from iotcop.traffic.dissect import check_capture

        for capture in options.traffic:
            check_capture(Path(capture))  # a capture that is not one stops the scan before any extraction

    try:
        with _work_directory(options) as work_dir:
            if options.keep_work:
                progress.advance(f"work directory: {work_dir}")
            target = _target(source)
            progress.stage("Extracting")
            with timer("extract"):
                extraction = extract(source, work_dir, options.limits, progress=progress.extracting)
            progress.stage("Inventory")
            with timer("inventory"):
                fw = build_firmware(work_dir, extraction.roots, extraction.extract_dir, extraction.partitions,
                                    content=_content_pass(checks, profile.name, options))
            set_profile(fw, profile.name)  # before the checks fork, so each reads its options
            with timer("components"):
                components = _components(fw)  # in the parent, so every forked check shares them
            with timer("shared"):
                _shared_parses(fw, checks)
            if options.declaration is not None:
                from iotcop.checks.declared import attach_declaration

                attach_declaration(fw, options.declaration)  # before the checks fork
            runs = _run_checks(checks, fw, extraction, options, progress, timer)
            runs = sorted(runs + _skip(left_out, f"not in the '{profile.name}' profile: {profile.skips}"),
                          key=lambda r: r.check)
            declared: list = []
            if options.declaration is not None:
                from iotcop.declaration.evidence import declaration_evidence

                progress.stage("Declaration")
                with timer("declaration"):
                    declared = declaration_evidence(options.declaration, fw, runs, fetch=options.fetch,
                                                    verify=options.verify_tls)
            device = None
            if options.device is not None:
                from iotcop.probe.correlate import probe_and_correlate

                progress.stage("Probing the device")
                with timer("probe"):
                    device, device_runs = probe_and_correlate(options.device, options.device_options, fw,
                                                              options.declaration)
                runs = runs + device_runs
            traffic = None
            if options.traffic:
                from iotcop.traffic.evidence import traffic_evidence

                progress.stage("Reading the captures")
                with timer("traffic"):
                    traffic, traffic_runs, warnings = traffic_evidence(
                        list(options.traffic), declaration=options.declaration, firmware=fw, probe=device)
                runs = runs + traffic_runs
                for line in warnings:
                    progress.advance(line)
            progress.stage("Assessing")
            with timer("assess"):
                assessment = _assessment(catalogue, target, extraction, runs, timer, declared, options.declaration)
                assessment.components = components
                assessment.notes.extend(_vulndb_notes())
                assessment.device = device
                assessment.traffic = traffic
                if traffic:
                    assessment.notes.extend(f"capture {t.capture} cut short: {t.partial_reason}; analysed the first "
                                            f"{t.packets} packets" for t in traffic if not t.complete)
                assessment.profile = profile.name
                if "ts103701" in options.views or "ts103701" in options.outputs:
                    from iotcop.conformance import view_for_scan

                    assessment.ts103701 = view_for_scan(assessment, runs, options.declaration, fw, declared)
            assessment.timings["assess"] = timer.timings["assess"]  # the report was built inside this stage
            if options.out_dir is not None:
                with timer("outputs"):
                    try:
                        write_outputs(assessment, options.out_dir, options.outputs,
                                      OutputContext(firmware=fw, declaration=options.declaration))
                    except OSError as exc:
                        if exc.errno == errno.ENOSPC:
                            raise InputError(f"no space left on the device holding {options.out_dir}; "
                                             "not every output was written (those present are complete)") from None
                        raise
                assessment.timings["outputs"] = timer.timings["outputs"]  # for --timings; written files lack it
            return ScanResult(assessment=assessment, work_dir=work_dir if options.keep_work else None, firmware=fw)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise InputError("no space left on the device holding the work directory (use --work-dir)") from None
        raise


def _target(source: Path) -> Target:
    if source.is_dir():
        return Target(kind="rootfs", path=str(source))
    try:
        size = source.stat().st_size
        digest = file_sha256(source)
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None
    return Target(kind="firmware", path=str(source), sha256=digest, size=size)


def _run_checks(checks, fw: Firmware, extraction: Extraction, options: ScanOptions, progress: Progress,
                timer: _Timer) -> list[CheckRun]:
    skipped: list[CheckRun] = []
    if extraction.report.status == "failed":
        why = "extraction failed: " + (extraction.report.errors[0] if extraction.report.errors else "nothing extracted")
        skipped, checks = _skip(checks, why), []
    elif not fw.roots:
        needs_root = [c for c in checks if c.NEEDS_ROOTFS]
        skipped = _skip(needs_root, "no root filesystem was found")
        checks = [c for c in checks if not c.NEEDS_ROOTFS]
    progress.stage("Checks", total=len(checks))

    def done(run: CheckRun) -> None:
        timer.timings[f"check:{run.check}"] = run.seconds
        progress.advance(run.check)

    with timer("checks"):
        ran = run_checks(checks, fw, jobs=options.jobs, on_done=done,
                         timeouts=profile_timeouts(options.profile)) if checks else []
    by_id = {r.check: r for r in ran + skipped}
    return [by_id[c] for c in sorted(by_id)]


def _skip(checks, why: str) -> list[CheckRun]:
    return [CheckRun(check=c.ID, version=c.VERSION, status="skipped", provisions=list(c.PROVISIONS), error=why)
            for c in checks]


def _assessment(catalogue, target: Target, extraction: Extraction, runs: list[CheckRun], timer: _Timer,
                declared: list | None = None, declaration: Any = None) -> Assessment:
    evidence = Evidence(runs=runs, extraction=extraction.report)
    evidence.add_declaration(declared or [])
    verdicts = assess_provisions(catalogue, evidence)
    by_id = {v.id: v for v in verdicts}
    findings = sorted({f.id: f for f in evidence.findings}.values(), key=lambda f: f.sort_key())
    return Assessment(
        tool=Tool(version=__version__, catalogue_version=catalogue.version),
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        target=target,
        extraction=extraction.report,
        findings=findings,
        provisions=verdicts,
        guidelines=[roll_up(g, catalogue, by_id) for g in catalogue.guidelines],
        psti=[roll_up(g, catalogue, by_id) for g in catalogue.psti],
        checks=[CheckSummary(id=r.check, version=r.version, status=r.status, findings=len(r.findings),
                             seconds=r.seconds, error=r.error) for r in runs],
        components=[],
        timings=dict(timer.timings),
        claims=evidence.claims,
        declaration=declaration.summary() if declaration is not None else None,
    )


def exit_code_for(assessment: Assessment) -> int:
    catalogue = load_catalogue()
    failing = [v for v in assessment.provisions if v.verdict.value == "FAIL" and catalogue.provisions[v.id].mandatory]
    return 1 if failing else 0


# Derived parses that read every file and that several checks use: made once in the parent, so each
# forked check inherits the result instead of reading the whole tree again.
_ACCOUNT_READERS = frozenset({
    "credentials.empty-password", "credentials.default-password", "credentials.weak-password-hash",
    "credentials.shared-password-hash", "credentials.derived-password", "secrets.world-readable",
    "declared.password-approach",
})


def _shared_parses(fw: Firmware, checks) -> None:
    if sum(1 for c in checks if c.ID in _ACCOUNT_READERS) >= 2:
        from iotcop.checks.credentials.accounts import accounts

        accounts(fw)


def _content_pass(checks, profile: str, options: ScanOptions) -> ContentPass:
    """Every content check of this scan, the component version signatures, the account records and the text
    that many checks read: each sees the files it wants during the inventory's one read of them."""
    from iotcop.batch.cache import file_result_store
    from iotcop.checks.base import ContentCheck
    from iotcop.checks.credentials.accounts import AccountRecords
    from iotcop.checks.secrets.files import TextFiles
    from iotcop.sbom.identify import VersionSignatures

    scanners = [c() for c in checks if issubclass(c, ContentCheck)]
    scanners += [VersionSignatures(), AccountRecords(), TextFiles()]
    budgets = {f"check:{k}": v for k, v in profile_timeouts(profile).items()}
    return ContentPass(scanners=scanners, profile=profile, budgets=budgets, store=file_result_store(),
                       jobs=options.jobs)


def _components(fw: Firmware) -> list[dict]:
    from iotcop.sbom import components_as_dicts

    return components_as_dicts(fw)


def _vulndb_notes() -> list[str]:
    from iotcop.vulns.db import age_warning

    warning = age_warning()
    return [warning] if warning else []
