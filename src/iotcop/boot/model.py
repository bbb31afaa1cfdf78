"""The boot model: what a firmware image starts at boot, by what, as whom, under which condition.

Plain frozen dataclasses (picklable, so a scan can compute the model once and hand it to forked checks)
with `to_dict()` / `from_dict()` for report.json.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

# confirmed:   a line on the boot path that runs whenever the boot gets there;
# conditional: behind a branch, flag file, variable or exit status the image does not settle;
# possible:    a command line found as a string inside a program that runs at boot (a manager daemon);
# name-only:   a bare program name among such strings, with no argument or '&' to show it is launched.
Confidence = Literal["confirmed", "conditional", "possible", "name-only"]
CONFIDENCE_ORDER = ("confirmed", "conditional", "possible", "name-only")

# How a program is started.
How = Literal["inittab", "rc-script", "procd", "systemd", "runit", "upstart", "inetd", "xinetd", "tcpsvd", "cron",
              "respawn-loop", "launcher", "login-program", "binary-strings"]


_REMOVABLE_NAME = re.compile(r"^(?:usb\w*|sd[a-z]\d*|sdcard\w*|mmc\w*|udisk\w*|hdd\w*|external\w*|tfcard\w*|"
                             r"storage\w*)$", re.I)


def removable_path(path: str) -> bool:
    """Conventional mount points of SD cards and USB disks (/media/x, /mnt/usb1, /var/tmp/usb, /mnt/sda1)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return False
    if parts[0] in ("media", "sdcard"):
        return True
    return parts[0] in ("mnt", "tmp", "var", "run") and any(_REMOVABLE_NAME.match(p) for p in parts[1:4])


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a start path: a line of a file (line None: a string inside a binary)."""

    file: str
    line: int | None
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True, slots=True)
class Condition:
    """A switch that decides whether a step runs, recorded as written, never evaluated by guess.

    `kinds` says what the switch reads: file (a flag file test), uboot-env, nvram, kernel-cmdline, uci,
    config (a configuration file sourced or read by the script), factory-default, exit-status (the result
    of an earlier command), loop, case, other.  `negated` is True on the else side of a branch.
    `default_holds` is the value when the switch's default in the image settles it (a sourced default
    configuration, a UCI option), None otherwise.
    """

    text: str
    where: Step
    negated: bool = False
    expanded: str = ""
    kinds: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # where each variable of the test got its value
    default_holds: bool | None = None

    def describe(self) -> str:
        text = self.expanded or self.text
        out = f"not ({text})" if self.negated else text
        if self.sources:
            out += " [" + "; ".join(self.sources) + "]"
        return out


@dataclass(frozen=True, slots=True)
class StartedProgram:
    name: str  # what runs: applet name for a multicall binary, else the file name as invoked
    command: str  # argv[0] as written
    path: str  # the file that runs, resolved inside the image
    argv: tuple[str, ...]  # arguments after argv[0], expanded where the image settles them
    argv_source: tuple[str, ...]  # the same as written ("$PW" where argv has the value it resolved to)
    user: str  # "root" unless a wrapper or init setting switches
    how: str  # see How
    confidence: str  # see Confidence
    chain: tuple[Step, ...]
    conditions: tuple[Condition, ...] = ()
    applet: str | None = None  # BusyBox (or other multicall) applet that runs
    background: bool = False
    respawn: bool = False
    from_writable: bool = False  # the file lies on writable or removable storage
    storage: str | None = None  # mount point / partition of that storage
    tty: str | None = None  # inittab id field
    action: str | None = None  # inittab action
    login_shell: bool = False  # inittab '-' prefix
    service: str | None = None  # inetd/xinetd service name, cron schedule, systemd unit, procd instance
    started_by: str | None = None  # the program (path) that launches it: inetd, a manager daemon, crond
    launched_by: str | None = None  # that program's name as it runs (the applet of a multicall binary): telnetd, getty
    evidence: str | None = None  # for strings found in binaries: the string
    user_source: str | None = None  # how `user` was learnt when it is not the default
    argv_defined: tuple[str, ...] = ()  # per argument, where its variables were set ("PW from /etc/rc:3"); () if none

    @property
    def where(self) -> Step:
        return self.chain[-1]

    @property
    def command_line(self) -> str:
        return " ".join((self.command, *self.argv))


@dataclass(frozen=True, slots=True)
class MissingProgram:
    """A command on the boot path whose file is not in the image (it does not run, or runs from elsewhere)."""

    command: str
    argv: tuple[str, ...]
    chain: tuple[Step, ...]
    conditions: tuple[Condition, ...]
    confidence: str
    reason: str
    from_writable: bool = False  # the path lies on writable or removable storage: whatever is there runs
    storage: str | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class BootWrite:
    """A file the boot chain creates or replaces: a copy, a link, an echo/cat redirection, an archive."""

    path: str  # destination (a directory for copies into one)
    op: str  # copy, copy-tree, link, write, append, extract, move
    # the source file or archive in the image; for a write or append by a filter (cat, sed, awk ...) the file it
    # renders (a template); None for text the script itself writes
    source: str | None
    content: str | None  # text written, when the script shows it (unresolved parts as written)
    chain: tuple[Step, ...]
    conditions: tuple[Condition, ...] = ()
    confidence: str = "confirmed"


@dataclass(frozen=True, slots=True)
class BootMount:
    target: str
    source: str | None
    fstype: str | None
    options: str | None
    writable: bool  # persistent writable storage (jffs2, ubifs, ext*, vfat ...), not tmpfs
    removable: bool
    chain: tuple[Step, ...]
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """A script the boot chain runs or sources."""

    path: str
    chain: tuple[Step, ...]
    conditions: tuple[Condition, ...] = ()
    sourced: bool = False
    from_writable: bool = False
    storage: str | None = None  # mount point of that storage
    confidence: str = "confirmed"  # as for StartedProgram (a script run by a command line found in a binary: possible)


@dataclass(frozen=True, slots=True)
class BootModel:
    init: str  # busybox-init, sysvinit, procd, systemd, unknown
    init_path: str | None
    inittab: str | None  # the inittab read (device path), or "built-in default"
    programs: tuple[StartedProgram, ...] = ()
    missing: tuple[MissingProgram, ...] = ()
    scripts: tuple[ScriptRun, ...] = ()
    writes: tuple[BootWrite, ...] = ()
    mounts: tuple[BootMount, ...] = ()
    notes: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()  # limits reached (depth, files, time): the model may be incomplete
    parse_errors: tuple[str, ...] = ()  # "file:line: what the parser skipped"
    stats: dict = field(default_factory=dict)

    # -- questions consumers ask ---------------------------------------------------------------------
    def started(self, *names: str, min_confidence: str = "possible") -> list[StartedProgram]:
        """Programs with one of these names (all when none given), at least as sure as `min_confidence`."""
        rank = CONFIDENCE_ORDER.index(min_confidence)
        wanted = set(names)
        return [p for p in self.programs
                if CONFIDENCE_ORDER.index(p.confidence) <= rank and (not wanted or p.name in wanted)]

    def writable_starts(self) -> list[StartedProgram | MissingProgram | ScriptRun]:
        """Everything run from writable or removable storage: programs and scripts the image holds there, and
        paths there it does not hold (whatever is put there runs)."""
        return ([p for p in self.programs if p.from_writable] + [m for m in self.missing if m.from_writable]
                + [s for s in self.scripts if s.from_writable])

    def removable(self, storage: str | None) -> bool:
        """Whether a mount point named as `storage` above is removable media (a USB disk, an SD card)."""
        if storage is None:
            return False
        for mount in self.mounts:
            if mount.target == storage:
                return mount.removable
        return removable_path(storage)

    def writes_to(self, path: str) -> list[BootWrite]:
        """Boot-time writes whose destination is `path` or a directory holding it."""
        out = []
        for w in self.writes:
            if w.path == path or (w.path.endswith("/") and path.startswith(w.path)) or \
                    (w.op == "copy-tree" and path.startswith(w.path.rstrip("/") + "/")):
                out.append(w)
        return out

    def report_view(self, include_name_only: bool = False) -> dict:
        """The `boot` section of report.json: what starts, started by what (file:line chain), as whom,
        with which arguments, under which condition and how sure the model is (schema iotcop.report/1)."""

        def chain(items) -> list[str]:
            return [str(step) if step.line is not None else f"{step.file} (string: {step.text})" for step in items]

        def program(p: StartedProgram) -> dict:
            return {"name": p.name, "path": p.path, "argv": list(p.argv), "user": p.user, "how": p.how,
                    "confidence": p.confidence, "chain": chain(p.chain),
                    "conditions": [c.describe() for c in p.conditions], "tty": p.tty, "action": p.action,
                    "service": p.service, "started_by": p.started_by, "launched_by": p.launched_by, "respawn": p.respawn,
                    "background": p.background, "from_writable": p.from_writable, "storage": p.storage,
                    "evidence": p.evidence}

        return {
            "init": self.init, "inittab": self.inittab,
            "programs": [program(p) for p in self.programs if include_name_only or p.confidence != "name-only"],
            "missing": [{"command": m.command, "argv": list(m.argv), "reason": m.reason, "path": m.path,
                         "chain": chain(m.chain), "conditions": [c.describe() for c in m.conditions],
                         "from_writable": m.from_writable, "storage": m.storage} for m in self.missing],
            "writes": [{"path": w.path, "op": w.op, "source": w.source, "content": w.content,
                        "chain": chain(w.chain), "conditions": [c.describe() for c in w.conditions],
                        "confidence": w.confidence} for w in self.writes],
            "mounts": [{"target": m.target, "source": m.source, "fstype": m.fstype, "writable": m.writable,
                        "removable": m.removable} for m in self.mounts],
            "notes": list(self.notes), "truncated": list(self.truncated),
        }

    # -- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BootModel":
        def steps(items):
            return tuple(Step(**s) for s in items or ())

        def conds(items):
            return tuple(Condition(**{**c, "where": Step(**c["where"]), "kinds": tuple(c.get("kinds", ())),
                                      "sources": tuple(c.get("sources", ()))}) for c in items or ())

        def build(kind, item):
            values = dict(item)
            for f in fields(kind):
                if f.name == "chain":
                    values["chain"] = steps(item.get("chain"))
                elif f.name == "conditions":
                    values["conditions"] = conds(item.get("conditions"))
                elif f.name in ("argv", "argv_source", "argv_defined") and f.name in item:
                    values[f.name] = tuple(item[f.name])
            return kind(**values)

        return cls(
            init=data["init"], init_path=data.get("init_path"), inittab=data.get("inittab"),
            programs=tuple(build(StartedProgram, p) for p in data.get("programs", ())),
            missing=tuple(build(MissingProgram, p) for p in data.get("missing", ())),
            scripts=tuple(build(ScriptRun, p) for p in data.get("scripts", ())),
            writes=tuple(build(BootWrite, p) for p in data.get("writes", ())),
            mounts=tuple(build(BootMount, p) for p in data.get("mounts", ())),
            notes=tuple(data.get("notes", ())), truncated=tuple(data.get("truncated", ())),
            parse_errors=tuple(data.get("parse_errors", ())), stats=dict(data.get("stats", {})),
        )
