"""Command line: parse arguments, call the packages, print.  Nothing else lives here.

Exit codes: 0 no mandatory provision fails; 1 at least one does;
2 usage or input error; 3 internal error.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import click
from rich.console import Console

from iotcop import __version__
from iotcop.errors import EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL, IotcopError
from iotcop.firmware.limits import Limits
from iotcop.profiles import default_profile, profiles

DEFAULT_LIMITS = Limits()

stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False)

HELP_EXIT = """
Exit codes: 0 = no mandatory provision fails (or what --fail-on names does not hold); 1 = at least one
mandatory provision fails (or a --fail-on condition holds); 2 = usage or input error (also: the input is
not a firmware image or root filesystem); 3 = internal error.
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=HELP_EXIT)
@click.version_option(__version__, prog_name="iotcop")
def cli() -> None:
    """Check consumer IoT firmware against the UK Code of Practice, ETSI EN 303 645 and PSTI."""


@cli.command(epilog=HELP_EXIT)
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write report.json (and later outputs) into this folder.")
@click.option("--output", "outputs", metavar="FORMATS",
              help="Comma-separated output formats to write into --out (default: every standard one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What to print on stdout: a summary, or the JSON report.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary; the exit code tells the result.")
@click.option("--timings", is_flag=True, help="Print the time spent in each stage and check.")
@click.option("--check", "only_checks", multiple=True, metavar="ID",
              help="Run only this check (or family, e.g. 'credentials'); repeatable.")
@click.option("--jobs", type=click.IntRange(1, 256), help="Checks run in parallel (default: CPU cores).")
@click.option("--profile", type=click.Choice(list(profiles())), default=default_profile(), show_default=True,
              help="label: what a label needs, bounded work; standard: every check; deep: exhaustive cracking and "
                   "every binary.  Checks a profile leaves out show as skipped (NOT_TESTED, never PASS).")
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where to extract (default: the system temporary folder).")
@click.option("--keep-work", is_flag=True, help="Keep the extracted files after the scan.")
@click.option("--extract-timeout", type=click.FloatRange(1), default=DEFAULT_LIMITS.timeout, show_default=True,
              help="Seconds extraction may take before it is stopped (the report then says partial).")
@click.option("--max-extract-bytes", type=click.IntRange(1), default=DEFAULT_LIMITS.max_bytes, show_default=True,
              help="Stop extraction once it has written this many bytes.")
@click.option("--max-files", type=click.IntRange(1), default=DEFAULT_LIMITS.max_files, show_default=True,
              help="Stop extraction once it has written this many files.")
@click.option("--max-depth", type=click.IntRange(1, 32), default=DEFAULT_LIMITS.max_depth, show_default=True,
              help="How deep nested containers are opened.")
@click.option("--declaration", "declaration_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Manufacturer declaration (YAML or JSON, see 'iotcop declaration init').")
@click.option("--no-fetch", is_flag=True,
              help="Do not fetch the declaration's public pages (security.txt, policy, support period).")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Trust this CA bundle when fetching the declaration's pages.")
@click.option("--device", "device", metavar="HOST",
              help="Also probe this live device (see 'iotcop probe') and correlate it with the firmware.")
@click.option("--device-budget", type=click.FloatRange(1, 3600), default=60, show_default=True,
              help="Seconds the device probe may take.")
@click.option("--device-ports", default="common", show_default=True, metavar="common|all|LIST",
              help="TCP ports of the device to probe.")
@click.option("--device-credentials", metavar="USER:PASSWORD",
              help="Your own test login to the device: functions refused without credentials are asked again with it "
                   "(5.5-4, authenticated access works).")
@click.option("--traffic", "traffic", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A pcap/pcapng capture of the device's traffic to analyse with the firmware (repeatable; see "
                   "'iotcop traffic').")
@click.option("--view", "view", type=click.Choice(["ts103701"]),
              help="Also assess as ETSI TS 103 701 test cases: print them and add 'ts103701' to the report.")
@click.option("--fail-on", "fail_on", metavar="CONDITIONS",
              help="When to exit 1, comma-separated: mandatory (default: a mandatory provision FAILs), fail (any "
                   "provision FAILs), SEVERITY[:CONFIDENCE] (a finding at or above it, e.g. high or medium:possible; "
                   "confidence defaults to likely), kev (an actively exploited vulnerability), never.")
@click.option("--baseline", "baseline_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Accepted risks (YAML: fingerprint or vulnerability, reason, expires); accepted findings do not "
                   "count for the exit code. See 'iotcop baseline'.")
@click.option("--vex", "vex_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="CycloneDX VEX document: vulnerabilities it states not_affected, false_positive or resolved are "
                   "no longer reported for that component; repeatable.")
def scan(target: Path, out_dir, outputs, fmt, quiet, timings, only_checks, jobs, work_dir, keep_work, extract_timeout,
         max_extract_bytes, max_files, max_depth, declaration_file=None, no_fetch=False, ca_file=None, device=None, device_budget=60.0,
         device_ports="common", view=None, profile="standard", traffic=(), device_credentials=None, fail_on=None,
         baseline_file=None, vex_files=()) -> None:
    """Scan a firmware image, an extracted root filesystem, or a .tar/.zip of one.

    Prints provision verdicts and the most important findings; with --out, writes report.json.
    """
    from iotcop.scan import ScanOptions
    from iotcop.scan import scan as run_scan
    from iotcop.triage.baseline import load_baseline
    from iotcop.triage.gate import FailOn, gate
    from iotcop.triage.vex import load_vex
    from iotcop.ui import ProgressUI, print_summary, print_timings

    gate_on = FailOn.parse(fail_on)  # every input is checked before any extraction
    baseline = load_baseline(baseline_file) if baseline_file is not None else None
    vex = tuple(load_vex(path) for path in vex_files)
    declaration = None
    if declaration_file is not None:
        from iotcop.declaration import load_declaration

        declaration = load_declaration(declaration_file)  # invalid: exit 2 before any extraction
    device_options = None
    if device is not None:
        from iotcop.probe.engine import ProbeOptions
        from iotcop.probe.safety import resolve_target

        resolve_target(device)  # a refused address stops the scan before any extraction
        test_credentials = None
        if device_credentials is not None:
            user, sep, password = device_credentials.partition(":")
            if not sep or not user:
                from iotcop.errors import InputError

                raise InputError("--device-credentials: expected USER:PASSWORD")
            test_credentials = (user, password)
        device_options = ProbeOptions(budget=device_budget, ports=device_ports, test_credentials=test_credentials)
    options = ScanOptions(
        device=device,
        device_options=device_options,
        declaration=declaration,
        fetch=not no_fetch,
        verify_tls=ca_file if ca_file is not None else True,
        out_dir=out_dir,
        work_dir=work_dir,
        keep_work=keep_work,
        limits=Limits(max_bytes=max_extract_bytes, max_files=max_files, max_depth=max_depth, timeout=extract_timeout),
        jobs=jobs,
        only_checks=tuple(only_checks),
        profile=profile,
        outputs=tuple(o.strip() for o in (outputs or "").split(",") if o.strip()),
        views=(view,) if view else (),
        traffic=tuple(traffic),
        baseline=baseline,
        vex=vex,
    )
    show_progress = not quiet and stderr.is_terminal
    with ProgressUI(stderr, enabled=show_progress) as ui:
        result = run_scan(target, options, ui)
    assessment = result.assessment
    if fmt == "json":
        from iotcop.report.writers.json import render

        sys.stdout.write(render(assessment))
    elif not quiet:
        print_summary(stdout, assessment, out_dir, result.accepted.reasons())
        if assessment.ts103701 is not None:
            from iotcop.conformance.terminal import print_view

            print_view(stdout, assessment.ts103701)
    for t in assessment.traffic or []:
        if not t.complete:
            print(f"iotcop: warning: {t.capture}: {t.partial_reason}; analysed the first {t.packets} packets (partial)",
                  file=sys.stderr)
    if timings:
        print_timings(stderr, assessment)
    if result.work_dir and not quiet:
        stderr.print(f"work directory kept: {result.work_dir}")
    if assessment.extraction.status == "failed":
        reason = assessment.extraction.errors[0] if assessment.extraction.errors else "extraction failed"
        print(f"iotcop: error: {target}: {reason}; nothing was assessed", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    for entry in result.accepted.expired:
        print(f"iotcop: baseline: {entry.source} ({entry.target()}) expired on {entry.expires}; it no longer applies",
              file=sys.stderr)
    reasons = gate(assessment, gate_on, result.accepted)
    if reasons and not quiet and (fail_on or baseline is not None):
        for reason in reasons[:5]:
            print(f"iotcop: fail-on: {reason}", file=sys.stderr)
    sys.exit(EXIT_FAIL if reasons else 0)


@cli.group()
def standards() -> None:
    """Browse the provision catalogue and its mappings."""


@standards.command("list")
@click.option("--framework", type=click.Choice(["en303645", "uk-cop", "psti", "cra", "owasp"]), default="en303645",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def standards_list(framework: str, fmt: str) -> None:
    """List EN 303 645 provisions, or the groups of another framework."""
    from iotcop.ui import print_standards_list

    print_standards_list(stdout, framework, fmt)


@standards.command("show")
@click.argument("item_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def standards_show(item_id: str, fmt: str) -> None:
    """Show one provision (e.g. 5.1-1), guideline (cop-1), PSTI requirement (psti-1), CRA item or OWASP item."""
    from iotcop.ui import print_standards_item

    print_standards_item(stdout, item_id, fmt)


@cli.group()
def checks() -> None:
    """The checks iotcop runs."""


@checks.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def checks_list(fmt: str) -> None:
    """List every check with the provisions it informs."""
    from iotcop.ui import print_checks

    print_checks(stdout, fmt)


@cli.command()
@click.option("--variant", type=click.Choice(["vulnerable", "clean"]), default="vulnerable", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("results"),
              show_default=True)
@click.pass_context
def demo(ctx: click.Context, variant: str, out_dir: Path) -> None:
    """Build a demo firmware image from real Debian packages and scan it."""
    from iotcop.demo.builder import build_image

    stderr.print(f"Building the {variant} demo image from Debian packages (cached after the first run) ...")
    built = build_image(variant)
    stderr.print(f"Image: {built.image}")
    ctx.invoke(scan, target=built.image, out_dir=out_dir)  # every other option at its default


def main() -> None:
    from iotcop.commands import register_all

    register_all(cli)
    if not sys.warnoptions and not os.environ.get("IOTCOP_DEBUG"):
        # Library notices (a certificate in the image with a negative serial number ...) would land in the
        # user's terminal between the summary lines; IOTCOP_DEBUG=1 or python -W shows them.
        warnings.simplefilter("ignore")
    try:
        cli.main(standalone_mode=False, prog_name="iotcop")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INPUT)
    except click.exceptions.Abort:
        stderr.print("iotcop: aborted")
        sys.exit(130)
    except IotcopError as exc:
        print(f"iotcop: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("iotcop: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("IOTCOP_DEBUG"):
            raise
        line = str(exc).splitlines()[0] if str(exc) else ""
        print(f"iotcop: internal error: {type(exc).__name__}: {line} (set IOTCOP_DEBUG=1 for details)",
              file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)


if __name__ == "__main__":
    main()

