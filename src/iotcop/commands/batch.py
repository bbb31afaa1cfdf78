"""`iotcop batch`, `iotcop worker`, `iotcop rematch` and `iotcop diff`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iotcop.errors import InputError


def register(cli: click.Group) -> None:
    cli.add_command(batch)
    cli.add_command(worker)
    cli.add_command(rematch)
    cli.add_command(diff)


def _formats(text: str | None) -> tuple[str, ...]:
    from iotcop.batch.image import DEFAULT_FORMATS

    return tuple(f.strip() for f in text.split(",") if f.strip()) if text else DEFAULT_FORMATS


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Batch folder: journal.jsonl, results/<sha256>-<version>/, summary.json/.csv, index.html.")
@click.option("--engine", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="local: a process pool on this machine; celery: `iotcop worker` processes via --broker.")
@click.option("--broker", metavar="redis://HOST:6379/0", help="Redis URL for --engine celery.")
@click.option("--workers", type=click.IntRange(1, 256), help="Images scanned at once (local; default: cores / 2).")
@click.option("--budget", type=click.FloatRange(1), default=1800, show_default=True,
              help="Seconds one image may take; past it the image is recorded as failed.")
@click.option("--output", "outputs", metavar="FORMATS", help="Report formats per image (default: json,html,sarif,"
                                                              "cyclonedx).")
@click.option("--check", "only_checks", multiple=True, metavar="ID", help="Run only this check or family.")
@click.option("--jobs", type=click.IntRange(1, 256), help="Checks in parallel within one scan.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Analysis cache folder (default: $IOTCOP_CACHE_DIR or ~/.cache/iotcop/analysis).")
@click.option("--no-cache", is_flag=True, help="Neither read nor fill the analysis cache.")
@click.option("--profile", default=None, metavar="NAME", help="Scan profile for every image (see `iotcop scan --help`).")
@click.option("--retry-failed", is_flag=True, help="Scan again the images a previous run recorded as failed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--test-delay", type=float, default=0.0, hidden=True)
def batch(paths, out_dir, engine, broker, workers, budget, outputs, only_checks, jobs, cache_dir, no_cache,
          profile, retry_failed, quiet, test_delay) -> None:
    """Scan many firmware images (files or folders of them) and summarise them.

    Resumable: run the same command again after an interruption and images already
    finished (journal.jsonl) are skipped.
    """
    from iotcop.batch.local import BatchOptions, exit_code, run_batch

    if engine == "celery" and not broker:
        raise InputError("--engine celery needs --broker redis://HOST:6379/0")
    options = BatchOptions(workers=workers, budget=budget, formats=_formats(outputs), only_checks=tuple(only_checks),
                           jobs=jobs, cache_dir="" if no_cache else (str(cache_dir) if cache_dir else None),
                           retry_failed=retry_failed, test_delay=test_delay, profile=profile)
    if profile is not None:
        from iotcop.profiles import get_profile

        get_profile(profile)  # an unknown profile: exit 2 before any work
    if options.formats and "json" not in options.formats:
        options.formats = ("json",) + options.formats  # the summary, diff and rematch read report.json
    from iotcop.report.writers import writers

    unknown = [f for f in options.formats if f not in writers()]
    if unknown:
        raise InputError(f"unknown output format: {', '.join(unknown)}")
    if only_checks:
        from iotcop.scan import select_checks

        select_checks(tuple(only_checks))  # unknown ids: exit 2 before any work
    runner = None
    if engine == "celery":
        from iotcop.batch.celery_app import CeleryEngine

        runner = CeleryEngine(broker, budget)
    report = run_batch(paths, out_dir, options, engine=runner, quiet=quiet)
    t = report.totals
    if not quiet:
        click.echo(f"{t['images']} image(s): {t['done']} done, {t['failed']} failed, {t['pending']} pending; "
                   f"{t['failing_mandatory']} fail a mandatory provision; {report.ran} scanned now, "
                   f"{report.skipped} already finished")
        click.echo(f"Summary: {out_dir / 'summary.json'}, {out_dir / 'summary.csv'}, {out_dir / 'index.html'}")
    code = exit_code(report)
    if code == 2:
        print(f"iotcop: error: {t['failed'] + t['pending']} image(s) could not be scanned "
              f"(see {out_dir / 'summary.csv'})", file=sys.stderr)
    sys.exit(code)


@click.command()
@click.option("--broker", required=True, metavar="redis://HOST:6379/0", help="The Redis broker of the batch.")
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Images this worker scans at once.")
@click.option("--visibility-timeout", type=click.FloatRange(1), default=None,
              help="Seconds after which Redis hands an unacknowledged job to another worker (default 7200; "
                   "must exceed the longest scan).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(broker, concurrency, visibility_timeout, loglevel) -> None:
    """Run a Celery worker that scans images sent by `iotcop batch --engine celery`."""
    from iotcop.batch.celery_app import check_broker, run_worker

    check_broker(broker)
    run_worker(broker, concurrency, visibility_timeout, loglevel)


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Vulnerability database (default: the active one, see `iotcop db status`).")
@click.option("--write", is_flag=True, help="Update each report.json in place (atomically) with the new matches.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rematch(reports, db_path, write, fmt) -> None:
    """Match the components stored in reports (report.json files or batch folders) against the vulnerability
    database again, without extracting the firmware."""
    import json

    from iotcop.batch.rematch import rematch_paths

    changes = rematch_paths(list(reports), db_path=db_path, write=write)
    if fmt == "json":
        sys.stdout.write(json.dumps([c.to_dict() for c in changes], indent=2) + "\n")
        return
    for c in changes:
        click.echo(f"{c.report}: {len(c.matched)} vulnerability finding(s); {len(c.new)} new, {len(c.gone)} no longer "
                   f"matched{' (report updated)' if c.written else ''}")
        from iotcop.report.findings import printable

        for f in c.new:
            click.echo(f"  + {printable(f)}")
        for f in c.gone:
            click.echo(f"  - {printable(f)}")


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write diff.json and diff.html into this folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--check", "only_checks", multiple=True, metavar="ID", help="When scanning images: only these checks.")
def diff(old, new, out_dir, fmt, only_checks) -> None:
    """Compare two firmware versions: OLD and NEW are report.json files, batch result folders or images.

    Exit code: 0 when NEW has no finding that OLD did not have, 1 when it has.
    """
    import json

    from iotcop.batch.diff import diff_assessments, load_side, render_text, write_diff

    old_a = load_side(old, tuple(only_checks))
    new_a = load_side(new, tuple(only_checks))
    result = diff_assessments(old_a, new_a)
    if out_dir is not None:
        write_diff(result, out_dir)
    if fmt == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        click.echo(render_text(result))
    sys.exit(1 if result["findings"]["new"] else 0)
