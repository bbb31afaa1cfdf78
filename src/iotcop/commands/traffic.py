"""`iotcop traffic CAPTURE...`: what a packet capture of the device's traffic shows, as provision verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console


def capture_assessment(captures: list[Path], reports, runs):
    """Verdicts from captures alone: no firmware was read, so the extraction record is empty (0 files)."""
    from iotcop.assess import AssessmentInputs, build_assessment
    from iotcop.model import ExtractionReport, Target
    from iotcop.standards.catalogue import load_catalogue

    target = Target(kind="capture", path=", ".join(str(c) for c in captures),
                    sha256=reports[0].sha256 if len(reports) == 1 else None, size=sum(r.size for r in reports))
    assessment = build_assessment(load_catalogue(), target, ExtractionReport(status="complete", files=0),
                                  AssessmentInputs(runs=runs),
                                  timings={"traffic": round(sum(r.analysis_seconds for r in reports), 3)})
    return assessment.model_copy(update={"traffic": reports})


def register(cli: click.Group) -> None:
    @cli.command("traffic")
    @click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--device-address", metavar="IP", help="The device's address in the capture (default: the address "
                                                          "that starts most connections).")
    @click.option("--declaration", "declaration_file", type=click.Path(path_type=Path, dir_okay=False),
                  help="Manufacturer declaration: telemetry, personal data and sensors are compared with the traffic.")
    @click.option("--decode-as", "decode_as", multiple=True, metavar="RULE",
                  help="tshark decode-as rule for a service on a non-standard port, e.g. tcp.port==11883,mqtt "
                       "(repeatable).")
    @click.option("--update-window", "update_window", type=click.FloatRange(min=1.0), metavar="SECONDS",
                  help="How long after start-up (DHCP) the device must check for updates: a capture that shows it "
                       "online that long without one is a 5.3-5 finding (default 600).")
    @click.option("--view", "view", type=click.Choice(["ts103701"]),
                  help="Also assess as ETSI TS 103 701 test cases (the captures as the only evidence besides the "
                       "declaration).")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="Write report.json here.")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.option("--quiet", "-q", is_flag=True, help="No summary; the exit code tells the result.")
    def traffic(captures, device_address, declaration_file, decode_as, update_window, view, out_dir, fmt, quiet) -> None:
        """Analyse pcap/pcapng captures of the device's traffic: peers, TLS, clear-text secrets, updates, outages.

        Reads the captures with tshark; nothing is sent on the network. A capture cut short is analysed up to
        the cut (one warning line; no positive evidence from it); a file that is not a capture exits 2.
        """
        from iotcop.report.writers import OutputContext, write_outputs
        from iotcop.scan import exit_code_for
        from iotcop.traffic.evidence import traffic_evidence

        declaration = None
        if declaration_file is not None:
            from iotcop.declaration import load_declaration

            declaration = load_declaration(declaration_file)
        reports, runs, warnings = traffic_evidence(list(captures), device=device_address, declaration=declaration,
                                                   decode_as=tuple(decode_as), update_window=update_window)
        for line in warnings:
            print(f"iotcop: warning: {line}", file=sys.stderr)
        assessment = capture_assessment(list(captures), reports, runs)
        if declaration is not None:
            assessment.declaration = declaration.summary()
        if view == "ts103701":
            from iotcop.conformance import view_for_scan

            assessment.ts103701 = view_for_scan(assessment, runs, declaration)
        if out_dir is not None:
            write_outputs(assessment, out_dir, ("json",), OutputContext())
        if fmt == "json":
            from iotcop.report.writers.json import render

            sys.stdout.write(render(assessment))
        elif not quiet:
            print_traffic(assessment)
            if assessment.ts103701 is not None:
                from iotcop.conformance.terminal import print_view

                print_view(Console(highlight=False, soft_wrap=False), assessment.ts103701)
        sys.exit(exit_code_for(assessment))


def print_traffic(assessment) -> None:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False)
    for rep in assessment.traffic or []:
        dev = f"{rep.device} (inferred)" if rep.device_inferred else rep.device
        out.print(f"[bold]{rep.capture}[/]: {rep.packets} packets, {rep.wire_bytes / 1e6:.1f} MB over "
                  f"{rep.duration_seconds:.1f} s; device {dev}" + ("" if rep.complete else f" [partial: {rep.partial_reason}]"))
        for p in rep.peers[:30]:
            names = f" ({', '.join(p.names[:3])})" if p.names else ""
            services = ", ".join(f"{s['endpoint']} {s['protocol']}" + (" <-" if s["direction"] == "to device" else "")
                                 for s in p.services[:8])
            out.print(f"  {p.address}{names}: {services}")
            for t in p.tls:
                cert = (t.certificate or {}).get("subject", "certificate not visible")
                out.print(f"      TLS {t.sni or t.server}: {', '.join(t.versions) or '?'} "
                          f"{', '.join(t.cipher_suites)[:60]}; {cert}" + (f"; weak: {'; '.join(t.weak)}" if t.weak else ""))
        for u in rep.updates:
            every = f", every {u.interval_seconds:g} s" if u.interval_seconds else ""
            out.print(f"  update check: {u.host} over {u.channel}, {u.count} time(s){every}")
        for c in rep.connections:
            for o in c.outages:
                out.print(f"  outage {c.endpoint}: {o['failed_attempts']} failed attempts over {o['seconds']:g} s, "
                          + ("reconnected" if o["reconnected"] else "not reconnected in the capture"))
    if assessment.findings:
        out.print("[bold]Findings[/]")
        for f in assessment.findings:
            out.print(f"  [{f.severity.value}] {f.evidence.path}  {f.title}: {f.evidence.detail or ''}")
    for v in assessment.provisions:
        if v.verdict.value in ("FAIL", "PASS"):
            out.print(f"  {v.id:<7} {v.verdict.value:<5} {v.note}")
