"""What the device starts at boot, as the checks read it: the starts of the one boot model (iotcop.boot).

`BOOT_COMMANDS` is a derived fact computed from `BOOT_MODEL`: one BootCommand per program the model
found started (bare program names among a manager binary's strings are left out), carrying

* the place to cite: the last step of the start path that is a file in the image (the script line, the
  inetd.conf line, the script that writes a generated inittab, or the binary whose strings hold the
  command line);
* the confidence a finding from this start has: `confirmed` for a line on the boot path, `likely` behind a
  switch the image does not settle (a flag file, a U-Boot variable: the service still ships), `possible`
  when the image's own default turns the switch off or when the command line was found as a string
  inside a program that runs at boot;
* the model's record (`start`) for the rest: the chain, the conditions, the storage it runs from.

Nothing here reads start-up files: a file that nothing on the boot path runs gives no command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from iotcop.boot import BOOT_MODEL, BootModel, StartedProgram
from iotcop.boot.walk import SHELLS
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

__all__ = ["BOOT_COMMANDS", "SHELLS", "BootCommand", "boot_commands", "cite", "commands_from_model", "describe_chain",
           "describe_conditions", "finding_confidence"]

_HOW = {"inittab": "inittab", "rc-script": "start-up script", "procd": "OpenWrt procd service",
        "systemd": "systemd unit", "runit": "runit service", "upstart": "upstart job", "inetd": "inetd",
        "xinetd": "xinetd", "tcpsvd": "tcpsvd", "cron": "cron job", "respawn-loop": "respawn loop in a start-up script",
        "launcher": "start-up script", "login-program": "login program",
        "binary-strings": "command line inside a program run at boot"}


def finding_confidence(start) -> str:
    """How sure a finding about a start of the model is (StartedProgram, MissingProgram, ScriptRun, BootWrite)."""
    confidence = getattr(start, "confidence", None) or ("conditional" if start.conditions else "confirmed")
    if confidence == "confirmed":
        return "confirmed"
    if confidence == "conditional":
        return "possible" if any(c.default_holds is False for c in start.conditions) else "likely"
    return "possible"


def cite(chain, in_image: Callable[[str], bool], fallback: str = "") -> tuple[str, int | None, str]:
    """The last step of a start path that is a file in the image: (path, line, text)."""
    for step in reversed(chain):
        if in_image(step.file):
            return step.file, step.line, step.text or fallback
    last = chain[-1]
    return last.file, last.line, last.text or fallback


def describe_chain(chain) -> str:
    """A start path in words: its first step and its last three."""
    steps = [str(s) for s in chain]
    if len(steps) > 4:
        steps = steps[:1] + ["..."] + steps[-3:]
    return "start path " + " > ".join(steps)


def describe_conditions(conditions) -> str:
    """The conditions a start runs under, as written ("" when it runs unconditionally)."""
    if not conditions:
        return ""
    shown = "; ".join(c.describe()[:160] for c in conditions[:3])
    return f"only when {shown}" + (f" (+{len(conditions) - 3} more)" if len(conditions) > 3 else "")


@dataclass(frozen=True, slots=True)
class BootCommand:
    path: str  # the file to cite (see the module's doc)
    line: int | None  # None for a string inside a binary
    text: str  # that line as written, or the string found in the binary
    program: str  # what runs: the applet for a multicall binary, else the file name as invoked
    args: tuple[str, ...]  # arguments, resolved where the image settles them
    mechanism: str  # the model's `how`: inittab, rc-script, procd, systemd, inetd, xinetd, cron, binary-strings ...
    confidence: str  # confirmed, likely or possible (finding_confidence)
    user: str
    start: StartedProgram  # the model's record: chain, conditions, storage, who started it

    # what the checks used to read off a start-up line
    @property
    def tty(self) -> str | None:
        return self.start.tty

    @property
    def action(self) -> str | None:
        return self.start.action

    @property
    def service(self) -> str | None:
        return self.start.service

    @property
    def login_shell(self) -> bool:
        return self.start.login_shell

    @property
    def user_source(self) -> str | None:
        return self.start.user_source

    @property
    def site(self) -> str:
        """Where to look, in words: "file:line", or the binary and the string in it."""
        return f"{self.path}:{self.line}" if self.line is not None else f"{self.path} (string '{self.text[:80]}')"

    def describe(self) -> str:
        """How it starts, for a finding's detail: mechanism, the start path and the conditions."""
        start = self.start
        how = _HOW.get(start.how, start.how)
        if start.service and start.how in ("inetd", "xinetd"):
            how += f" service '{start.service}'"
        out = f"{how} starts {' '.join((self.program, *self.args))} ({describe_chain(start.chain)})"
        if start.started_by:
            out += f"; launched by {start.started_by}"
        if start.conditions:
            out += "; " + describe_conditions(start.conditions)
        if start.how == "binary-strings" and start.evidence:
            out += f"; found as the string '{start.evidence[:120]}'"
        return out


def commands_from_model(model: BootModel, in_image: Callable[[str], bool] = lambda path: True) -> tuple[BootCommand, ...]:
    """The model's starts as BootCommand records, one per place and command line (the model may reach one
    line by two paths); `in_image(path)` tells which files of a start path exist in the image."""
    out: list[BootCommand] = []
    seen: dict[tuple, int] = {}
    order = {"confirmed": 0, "likely": 1, "possible": 2}
    for start in model.programs:
        if start.confidence == "name-only":
            continue
        path, line, text = cite(start.chain, in_image, start.command_line)
        command = BootCommand(path=path, line=line, text=(start.evidence if line is None and start.evidence else text),
                              program=start.name, args=start.argv, mechanism=start.how,
                              confidence=finding_confidence(start), user=start.user, start=start)
        key = (path, line, start.name, start.argv, start.service)
        if key in seen:
            kept = out[seen[key]]
            if order[command.confidence] < order[kept.confidence]:
                out[seen[key]] = command
            continue
        seen[key] = len(out)
        out.append(command)
    return tuple(out)


def _collect(fw: Firmware) -> tuple[BootCommand, ...]:
    return commands_from_model(BOOT_MODEL.of(fw), lambda path: fw.get(path) is not None)


BOOT_COMMANDS = DerivedFact("services.boot-commands", _collect, uses=(BOOT_MODEL,))


def boot_commands(fw: Firmware) -> tuple[BootCommand, ...]:
    """Everything the image starts at boot, from the scan's boot model."""
    return BOOT_COMMANDS.of(fw)
