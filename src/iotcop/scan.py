"""The scan pipeline: target -> extraction -> inventory -> checks -> assessment -> outputs."""

from __future__ import annotations

import errno
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from iotcop.assess import AssessmentInputs, build_assessment
from iotcop.boot import BOOT_MODEL
from iotcop.checks.base import Check, ContentCheck
from iotcop.checks.discovery import all_checks
from iotcop.checks.runner import run_checks
from iotcop.context import ScanContext
from iotcop.errors import InputError
from iotcop.files import file_sha256
from iotcop.firmware.content import ContentPass
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.extract import EmptyInput, Extraction, Limits, extract
from iotcop.firmware.inventory import build_firmware
from iotcop.firmware.model import Firmware
from iotcop.model import Assessment, CheckRun, ExtractionReport, Target
from iotcop.profiles import get_profile, split_checks
from iotcop.profiles import validate as profiles_validate
from iotcop.report.writers import OutputContext, write_outputs
from iotcop.sbom.identify import COMPONENTS, components_as_dicts
from iotcop.standards.catalogue import load_catalogue
from iotcop.triage.gate import accept, triage_record


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
    cache: Any = None  # iotcop.cache.store.AnalysisCache: reuse check runs and per-file results (batch, diff)
    baseline: Any = None  # iotcop.triage.baseline.Baseline: findings accepted on purpose (reason, expiry)
    vex: tuple = ()  # iotcop.triage.vex.VexDocument: the user's VEX statements about known vulnerabilities


@dataclass
class ScanResult:
    assessment: Assessment
    work_dir: Path | None
    firmware: Firmware | None = None
    accepted: Any = None  # iotcop.triage.gate.Accepted: what the baseline accepted


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


def select_checks(only: tuple[str, ...]) -> list[type[Check]]:
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
    profiles_validate([c.ID for c in all_checks()])  # discovery stops here if the mapping data is inconsistent
    statements = tuple(s for doc in options.vex for s in doc.statements)
    ctx = ScanContext(profile=get_profile(options.profile), declaration=options.declaration, cache=options.cache,
                      vex=statements)
    checks = select_checks(options.only_checks)
    if ctx.declaration is None:
        # Checks that compare the firmware with a declaration have nothing to compare without one.
        checks = [c for c in checks if not c.REQUIRES_DECLARATION]
    checks, left_out = split_checks(checks, ctx.profile.name)
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
                try:
                    extraction = extract(source, work_dir, options.limits, progress=progress.extracting)
                except EmptyInput:
                    extraction = Extraction(report=ExtractionReport(status="failed", errors=["the file is empty"]),
                                            extract_dir=None)
            progress.stage("Inventory")
            with timer("inventory"):
                fw = build_firmware(work_dir, extraction.roots, extraction.extract_dir, extraction.partitions,
                                    content=content_pass(checks, ctx, options.jobs))
            with timer("components"):
                components = components_as_dicts(fw)  # in the parent, so every forked check shares them
            boot = None
            if fw.roots:
                with timer("boot"):
                    boot = BOOT_MODEL.of(fw).report_view()  # in the parent: the report and the checks share it
            with timer("shared"):
                derive_shared_facts(fw, checks)
            runs = _run_checks(checks, fw, ctx, extraction, options, progress, timer)
            runs = sorted(runs + _skip(left_out, f"not in the '{ctx.profile.name}' profile: {ctx.profile.skips}"),
                          key=lambda r: r.check)
            inputs = AssessmentInputs(runs=runs, extraction=extraction.report)
            if options.declaration is not None:
                from iotcop.declaration.evidence import declaration_evidence

                progress.stage("Declaration")
                with timer("declaration"):
                    inputs.add_declaration(declaration_evidence(options.declaration, fw, runs, fetch=options.fetch,
                                                                verify=options.verify_tls))
            device = None
            if options.device is not None:
                from iotcop.probe.correlate import probe_and_correlate

                progress.stage("Probing the device")
                with timer("probe"):
                    device, device_runs = probe_and_correlate(options.device, options.device_options, fw,
                                                              options.declaration)
                inputs.runs = inputs.runs + device_runs
            traffic = None
            if options.traffic:
                from iotcop.traffic.evidence import traffic_evidence

                progress.stage("Reading the captures")
                with timer("traffic"):
                    traffic, traffic_runs, warnings = traffic_evidence(
                        list(options.traffic), declaration=options.declaration, firmware=fw, probe=device)
                inputs.runs = inputs.runs + traffic_runs
                for line in warnings:
                    progress.advance(line)
            progress.stage("Assessing")
            with timer("assess"):
                notes = _vulndb_notes() + [f"capture {t.capture} cut short: {t.partial_reason}; analysed the first "
                                           f"{t.packets} packets" for t in traffic or [] if not t.complete]
                assessment = build_assessment(catalogue, target, extraction.report, inputs, timings=timer.timings,
                                              components=components, device=device, declaration=options.declaration,
                                              profile=ctx.profile.name, notes=notes)
                if traffic:
                    assessment = assessment.model_copy(update={"traffic": traffic})
                if "ts103701" in options.views or "ts103701" in options.outputs:
                    from iotcop.conformance import view_for_scan

                    view = view_for_scan(assessment, inputs.runs, options.declaration, fw, inputs.declared_items)
                    assessment = assessment.model_copy(update={"ts103701": view})
            if boot is not None:
                assessment = assessment.model_copy(update={"boot": boot})
            assessment.timings["assess"] = timer.timings["assess"]  # the report was built inside this stage
            accepted = accept(assessment, options.baseline)
            record = triage_record(accepted, options.baseline, list(options.vex))
            if record is not None:
                assessment = assessment.model_copy(update={"triage": record})
            if options.out_dir is not None:
                with timer("outputs"):
                    try:
                        write_outputs(assessment, options.out_dir, options.outputs,
                                      OutputContext(firmware=fw, declaration=options.declaration, vex=statements))
                    except OSError as exc:
                        if exc.errno == errno.ENOSPC:
                            raise InputError(f"no space left on the device holding {options.out_dir}; "
                                             "not every output was written (those present are complete)") from None
                        raise
                assessment.timings["outputs"] = timer.timings["outputs"]  # for --timings; written files lack it
            return ScanResult(assessment=assessment, work_dir=work_dir if options.keep_work else None, firmware=fw,
                              accepted=accepted)
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


def _run_checks(checks, fw: Firmware, ctx: ScanContext, extraction: Extraction, options: ScanOptions,
                progress: Progress, timer: _Timer) -> list[CheckRun]:
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
        ran = run_checks(checks, fw, ctx, jobs=options.jobs, on_done=done) if checks else []
    by_id = {r.check: r for r in ran + skipped}
    return [by_id[c] for c in sorted(by_id)]


def _skip(checks, why: str) -> list[CheckRun]:
    return [CheckRun(check=c.ID, version=c.VERSION, status="skipped", provisions=list(c.PROVISIONS), error=why)
            for c in checks]


def exit_code_for(assessment: Assessment) -> int:
    catalogue = load_catalogue()
    failing = [v for v in assessment.provisions if v.verdict.value == "FAIL" and catalogue.provisions[v.id].mandatory]
    return 1 if failing else 0


def _facts_used(checks: list[type[Check]]) -> list[list[DerivedFact]]:
    """Per check, every derived fact it reads (with what those facts read)."""
    out = []
    for check in checks:
        facts: list[DerivedFact] = []
        for fact in check.USES:
            facts.extend(f for f in fact.closure() if f not in facts)
        out.append(facts)
    return out


def derive_shared_facts(fw: Firmware, checks: list[type[Check]]) -> None:
    """Compute, before the checks fork, each derived fact that more than one check reads; a fact one check
    alone reads is computed in that check's own process, in parallel with the others."""
    readers: dict[DerivedFact, int] = {}
    order: list[DerivedFact] = []
    for facts in _facts_used(checks):
        for fact in facts:
            readers[fact] = readers.get(fact, 0) + 1
            if fact not in order:
                order.append(fact)
    for fact in order:
        if fact.compute is not None and readers[fact] >= 2:
            fact.of(fw)


def content_pass(checks: list[type[Check]], ctx: ScanContext, jobs: int | None = None) -> ContentPass:
    """Every content check of this scan and the content scanners of the derived facts the checks and the
    scan itself read: each sees the files it wants during the inventory's one read of them."""
    scanners = [c() for c in checks if issubclass(c, ContentCheck)]
    names = {s.CONTENT_NAME for s in scanners}
    for facts in _facts_used(checks) + [COMPONENTS.closure()]:
        for fact in facts:
            for make in fact.scanners:
                scanner = make()
                if scanner.CONTENT_NAME not in names:
                    names.add(scanner.CONTENT_NAME)
                    scanners.append(scanner)
    budgets = {f"check:{k}": v for k, v in ctx.profile.timeouts.items()}
    return ContentPass(context=ctx, scanners=scanners, budgets=budgets, jobs=jobs)


def _vulndb_notes() -> list[str]:
    from iotcop.vulns.db import age_warning

    warning = age_warning()
    return [warning] if warning else []
