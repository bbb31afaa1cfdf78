"""A synthetic assessment at real-image scale, for the HTML report's browser tests and its benchmark.

Findings of the real checks (their ids, provisions and explanations), spread over device paths, with
vulnerability findings per component whose CVE lists, CVSS, EPSS and CISA KEV flags follow the shape of
real scans (a few components with hundreds of CVEs, most with a handful; about 1 in 100 actively
exploited), a baseline accepting a few findings, and a boot section.
"""

from __future__ import annotations

import json
import random

from iotcop.checks.discovery import all_checks
from iotcop.model import (
    Assessment,
    CheckSummary,
    Evidence,
    ExtractionReport,
    Finding,
    Severity,
    Target,
    Tool,
    Verdict,
    VerdictValue,
)
from iotcop.report.findings import fingerprint
from iotcop.standards.catalogue import load_catalogue

WORDS = ("overflow", "injection", "bypass", "traversal", "use-after-free", "null dereference", "leak", "race")
DIRS = ("/etc", "/usr/sbin", "/usr/lib", "/www/cgi-bin", "/lib/modules/4.9.37", "/etc/config", "/usr/share/www")


def _vuln_entry(rng: random.Random, n: int, component: str) -> dict:
    cvss = round(rng.uniform(2.0, 10.0), 1) if rng.random() < 0.9 else None
    severity = ("critical" if cvss >= 9 else "high" if cvss >= 7 else "medium" if cvss >= 4 else "low") if cvss \
        else "medium"
    return {"id": f"CVE-{rng.randint(2005, 2025)}-{10000 + n}", "aliases": [], "known_exploited": rng.random() < 0.01,
            "epss": round(rng.random() ** 3, 5) if rng.random() < 0.8 else None, "epss_percentile": None,
            "cvss": cvss, "cvss_vector": None, "severity": severity,
            "severity_basis": "CVSS" if cvss else "default",
            "description": f"{rng.choice(WORDS)} in {component} {rng.choice(('parser', 'handler', 'module'))}",
            "fixed": f"{rng.randint(1, 5)}.{rng.randint(0, 20)}" if rng.random() < 0.6 else None,
            "confidence": "likely", "approximate": False, "sources": "nvd"}


def synthetic_assessment(findings: int = 5000, seed: int = 7) -> Assessment:
    rng = random.Random(seed)
    cat = load_catalogue()
    checks = [c for c in all_checks() if c.PROVISIONS and c.ID != "vulns.known-vulnerability"]
    out: list[Finding] = []
    cve = 0
    components = 0
    while len(out) < findings * 0.06:  # vulnerability findings: a few percent of findings, most of the CVEs
        components += 1
        name = f"lib{rng.choice(('net', 'ssl', 'http', 'upnp', 'json', 'xml', 'usb'))}{components}"
        count = int(rng.paretovariate(1.1)) + 1
        entries = []
        for _ in range(min(count, 400)):
            cve += 1
            entries.append(_vuln_entry(rng, cve, name))
        entries.sort(key=lambda e: (not e["known_exploited"], -(e["epss"] or -1), -(e["cvss"] or -1)))
        group = "likely" if rng.random() < 0.7 else "possible"
        detail = {"group": group, "component": name, "version": f"1.{components}.0", "package_version": None,
                  "purl": f"pkg:generic/{name}@1.{components}.0", "cpe": None,
                  "files": [f"/usr/lib/{name}.so.1"], "count": len(entries),
                  "known_exploited": sum(e["known_exploited"] for e in entries), "vulnerabilities": entries}
        worst = max((Severity(e["severity"]) for e in entries), key=lambda s: s.rank)
        out.append(Finding(check="vulns.known-vulnerability", severity=worst, provisions=["5.2-3", "5.3-8"],
                           title=f"{name} 1.{components}.0: {len(entries)} known vulnerabilities",
                           evidence=Evidence(path=f"/usr/lib/{name}.so.1", detail=json.dumps(detail, sort_keys=True)),
                           confidence=group).with_id())
        for e in entries:
            if e["known_exploited"]:
                one = {**detail, "group": "known-exploited", "count": 1, "known_exploited": 1, "vulnerabilities": [e]}
                out.append(Finding(check="vulns.known-vulnerability", severity=Severity.critical,
                                   provisions=["5.2-3", "5.3-8"],
                                   title=f"{name} 1.{components}.0: {e['id']} is actively exploited (CISA KEV)",
                                   evidence=Evidence(path=f"/usr/lib/{name}.so.1",
                                                     detail=json.dumps(one, sort_keys=True)),
                                   confidence=group).with_id())
    n = 0
    while len(out) < findings:
        n += 1
        check = rng.choice(checks)
        path = f"{rng.choice(DIRS)}/{check.ID.split('.')[1]}-{n}.{rng.choice(('conf', 'sh', 'so', 'cgi', 'pem'))}"
        out.append(Finding(check=check.ID, severity=rng.choice(list(Severity)),
                           provisions=list(check.PROVISIONS)[:3], title=f"{check.DOC.title} ({path.rsplit('/', 1)[1]})",
                           evidence=Evidence(path=path, line=rng.randint(1, 400), excerpt=f"setting_{n}=value{n}"),
                           why=check.DOC.why, fix=check.DOC.fix,
                           confidence=rng.choice(("confirmed", "likely", "likely", "possible"))).with_id())
    # A title naming a long path with no space in it (real images nest extraction folders) must still wrap.
    deep = "/home/web.tar.gz_extract/gzip.uncompressed_extract/web/js/" + "nested_folder/" * 8 + "jquery-1.11.0.min.js"
    out[-1] = out[-1].model_copy(update={"title": f"Outdated script library in {deep}", "provisions": ["4-1"]})
    out.sort(key=Finding.sort_key)
    by_provision: dict[str, list[str]] = {}
    for f in out:
        for p in f.provisions:
            by_provision.setdefault(p, []).append(f.id)
    verdicts = [Verdict(id=p.id, status=p.status + ("" if not p.conditions else " C" + ",".join(map(str, p.conditions))),
                        verdict=VerdictValue.FAIL if p.id in by_provision else VerdictValue.NOT_TESTED,
                        findings=by_provision.get(p.id, []), note="")
                for p in cat.provisions.values()]
    accepted = [{"finding": f.id, "entries": [{"fingerprint": fingerprint(f), "reason": "accepted for the test release",
                                               "expires": "2099-12-31", "source": f"baseline.yaml entry {i}"}]}
                for i, f in enumerate(out[::97][:20], 1)]
    boot = {"init": "busybox init", "inittab": "/etc/inittab", "missing": [], "writes": [], "notes": [], "truncated": [],
            "programs": [{"name": f"daemon{i}", "path": f"/usr/sbin/daemon{i}", "argv": ["-f", f"/etc/daemon{i}.conf"],
                          "user": "root", "how": "rc-script", "confidence": "confirmed",
                          "chain": ["/etc/inittab:1", f"/etc/init.d/rcS:{i + 3}"], "conditions": []}
                         for i in range(60)]
                        + [{"name": "telnetd", "path": "/usr/sbin/telnetd", "argv": ["-l", "/bin/sh"], "user": "root",
                            "how": "binary-strings", "confidence": "possible",
                            "chain": ["/etc/inittab:1", "/etc/init.d/rcS:2", "/usr/bin/mgr (string: telnetd -l /bin/sh)"],
                            "conditions": []}]}
    boot["missing"] = [{"command": "/mnt/usb/autorun.sh", "argv": [], "reason": "not in the image (removable storage)",
                        "chain": ["/etc/inittab:1", "/etc/init.d/rcS:9"], "from_writable": True, "storage": "/mnt/usb"}]
    checks_run = sorted({f.check for f in out})
    counts = {c: sum(1 for f in out if f.check == c) for c in checks_run}
    a = Assessment(tool=Tool(version="0.1.0", catalogue_version="synthetic"),
                   generated_at="2026-01-01T00:00:00+00:00",
                   target=Target(kind="firmware", path="/images/synthetic-camera-fw.bin", sha256="0" * 64, size=1 << 24),
                   extraction=ExtractionReport(status="complete", files=4200),
                   findings=out, provisions=verdicts,
                   checks=[CheckSummary(id=c, version="1.0.0", status="ran", findings=counts[c], seconds=0.1)
                           for c in checks_run],
                   components=[{"name": f"lib{i}", "version": "1.0", "type": "library"} for i in range(5)],
                   triage={"baseline": {"file": "baseline.yaml", "sha256": "0" * 64, "entries": len(accepted)},
                           "accepted": accepted, "accepted_vulnerabilities": [], "expired": [], "unused": []})
    from iotcop.assess import roll_up

    by_id = {v.id: v for v in verdicts}
    a = a.model_copy(update={"guidelines": [roll_up(g, cat, by_id) for g in cat.guidelines],
                             "psti": [roll_up(g, cat, by_id) for g in cat.psti]})
    if "boot" in Assessment.model_fields:
        return a.model_copy(update={"boot": boot})
    object.__setattr__(a, "boot", boot)  # before the boot model is in the report model: seen by the HTML writer only
    return a
