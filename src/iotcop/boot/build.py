"""build_boot_model(): which init runs, what its table starts, and everything reached from there."""

from __future__ import annotations

import posixpath
import re

import iotcop.boot.shell as sh
from iotcop.boot.formats import BUSYBOX_DEFAULT_INITTAB, InittabEntry, parse_inittab, parse_unit, parse_upstart
from iotcop.boot.fs import BootFS
from iotcop.boot.model import BootModel, Condition, Step
from iotcop.boot.strings import scan_program_strings
from iotcop.boot.walk import Context, Env, Limits, Walker, WalkLimit, _CONTEXT_IDS
from iotcop.boot.words import Field
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

BOOT_ACTIONS = ("sysinit", "boot", "bootwait", "wait", "once")
LONG_RUNNING = ("respawn", "askfirst", "askconsole", "respawnlate")
_SYSTEMD_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def build_boot_model(fw: Firmware, limits: Limits | None = None) -> BootModel:
    """The boot model of an image: a pure function of the firmware's files (no timings in it, so two
    scans of one image give equal models and a cached check run that read it can be reused)."""
    fs = BootFS(fw)
    walker = Walker(fs, limits)
    init, init_path = detect_init(fs)
    inittab = None
    try:
        if init == "systemd":
            walk_systemd(walker)
        elif init == "runit":
            walk_runit(walker)
        elif init == "upstart":
            walk_upstart(walker)
        else:
            inittab = walk_inittab(walker, init)
        walker.walk_cron(None)
        scan_program_strings(walker)
    except WalkLimit as exc:
        walker._truncate(str(exc))
    return BootModel(
        init=init, init_path=init_path, inittab=inittab,
        programs=tuple(walker.programs), missing=tuple(walker.missing), scripts=tuple(walker.scripts),
        writes=tuple(walker.writes), mounts=tuple(walker.mounts), notes=tuple(dict.fromkeys(walker.notes)),
        truncated=tuple(walker.truncated), parse_errors=tuple(walker.parse_errors[:200]),
        stats={"commands": walker.commands, "script_runs": walker.script_runs,
               "scripts": len({s.path for s in walker.scripts}), "strings_files": walker.strings_files},
    )


# The one boot model of a scan: computed once (before the checks fork when two or more read it) and read by
# the service checks, the report's `boot` section, the probe correlation and the conformance view.
BOOT_MODEL = DerivedFact("boot.model", build_boot_model)


def detect_init(fs: BootFS) -> tuple[str, str | None]:
    for candidate in ("/sbin/init", "/init", "/linuxrc", "/bin/init"):
        if not fs.is_file(candidate):
            continue
        real = fs.content_path(candidate)
        if "systemd" in real:
            return "systemd", real
        if posixpath.basename(real) in ("runit", "runit-init"):
            return "runit", real
        if fs.exists("/sbin/procd") and candidate == "/sbin/init":
            return "procd", real
        applets = fs.applets(real)
        if "init" in applets:
            return "busybox-init", real
        if fs.is_elf(real):
            data = fs.read_binary(real) or b""
            if b"systemd" in data and b"/usr/lib/systemd" in data or b"/lib/systemd" in data and b"default.target" in data:
                return "systemd", real
            if b"upstart" in data and b"/etc/init" in data and b"start on" in data:
                return "upstart", real
            if b"INIT_VERSION" in data or b"sysvinit" in data or b"/etc/inittab" in data:
                return "sysvinit", real
    return "unknown", None


def _entry_env(walker: Walker, inittab_path: str, entry: InittabEntry, prefix: tuple[Step, ...],
               conds: tuple[Condition, ...]) -> Env:
    env = walker.new_env(inittab_path, prefix + (Step(inittab_path, entry.line, entry.text),), list(conds))
    env.how = "inittab"
    env.cwd = "/"
    if entry.action not in ("sysinit", "boot", "bootwait"):
        env.tty = entry.ident or None
        env.action = entry.action
    env.login_shell = entry.login_shell
    env.respawn = entry.action in LONG_RUNNING
    env.contexts.append(Context("script", next(_CONTEXT_IDS), len(env.conds)))
    return env


def run_command_line(walker: Walker, text: str, env: Env) -> None:
    """Run an init-table command line in `env` without adding a step of its own (the entry is the step)."""
    try:
        script = sh.parse(text, max_tokens=5000)
    except sh.ParseLimit:
        return
    for item in script.body.items:
        node = item.node
        try:
            if not node.rest and len(node.first.commands) == 1 and isinstance(node.first.commands[0], sh.Simple):
                walker._simple(node.first.commands[0], env, item.background)
            else:
                walker.exec_andor(node, env, background=item.background)
        except Exception as exc:  # a script exit ends the entry's command line
            if type(exc).__name__ not in ("_ScriptExit", "_BranchStop"):
                raise
            return


def walk_inittab(walker: Walker, init: str) -> str | None:
    fs = walker.fs
    path = "/etc/inittab"
    text = fs.read_text(path)
    label = fs.content_path(path) if text is not None else None
    if text is None:
        target = fs.resolve(path)
        if init in ("busybox-init", "unknown"):
            label = "built-in default"
            text = BUSYBOX_DEFAULT_INITTAB
            where = f"a link to {target}, which is not in the image" if target != path else "not in the image"
            walker.notes.append(f"/etc/inittab is {where}: BusyBox init starts from its built-in table "
                                f"(sysinit /etc/init.d/rcS, askfirst shells on the consoles)")
        elif init == "procd":
            label = "built-in default"
            text = "::sysinit:/etc/init.d/rcS S boot\n::shutdown:/etc/init.d/rcS K shutdown\n"
            walker.notes.append("/etc/inittab is missing: procd runs /etc/rc.d/S* boot")
        else:
            walker.notes.append(f"init is {init} and /etc/inittab is not in the image")
            return None
    entries = parse_inittab(text)
    entries = _runlevel_filter(entries, init)
    for action_group in (("sysinit",), ("boot", "bootwait"), ("wait",), ("once",)):
        for entry in entries:
            if entry.action in action_group:
                _run_entry(walker, init, label or path, entry, (), ())
    final_entries = entries
    final_label = label
    if walker.inittab_reloads:
        new_text = fs.read_text(path)
        if new_text is not None and new_text != text:
            real = fs.content_path(path)
            reload_step = walker.inittab_reloads[-1][-1]
            walker.notes.append(f"init re-reads {path} ({real}) after {reload_step}: the table built at boot replaces "
                                f"the one init started with")
            generated = fs.generated.get(real)
            final_label = f"{real} (generated at boot)" if generated is not None else real
            final_entries = []
            for entry in _runlevel_filter(parse_inittab(new_text), init):
                final_entries.append(entry)
            for entry in final_entries:
                if entry.action not in LONG_RUNNING:
                    continue
                prefix: tuple[Step, ...] = ()
                conds: tuple[Condition, ...] = ()
                if generated is not None:
                    from iotcop.boot.walk import _chunk_at

                    chunk = _chunk_at(generated, entry.line)
                    if chunk is not None:
                        prefix, conds = tuple(chunk.chain), tuple(chunk.conditions)
                _run_entry(walker, init, real, entry, prefix, conds)
            dropped = [e.text for e in entries if e.action in LONG_RUNNING]
            if dropped:
                walker.notes.append(f"entries of the first table dropped by the reload: {'; '.join(dropped)}")
            return final_label
    for entry in final_entries:
        if entry.action in LONG_RUNNING:
            _run_entry(walker, init, label or path, entry, (), ())
    return final_label


def _runlevel_filter(entries: list[InittabEntry], init: str) -> list[InittabEntry]:
    if init != "sysvinit":
        return entries
    default = next((e.runlevels for e in entries if e.action == "initdefault"), "")
    if not default:
        return entries
    return [e for e in entries if e.action in ("sysinit", "boot", "bootwait") or not e.runlevels
            or any(level in e.runlevels for level in default)]


def _run_entry(walker: Walker, init: str, inittab_path: str, entry: InittabEntry, prefix: tuple[Step, ...],
               conds: tuple[Condition, ...]) -> None:
    env = _entry_env(walker, inittab_path, entry, prefix, conds)
    words = entry.process.split()
    fs = walker.fs
    if init == "procd" and words and words[0] == "/etc/init.d/rcS" and not fs.is_file("/etc/init.d/rcS"):
        _procd_rcs(walker, env, words[1:])
        return
    if words and re.fullmatch(r"/etc/(?:init\.d|rc\.d)/rc", words[0]) and len(words) > 1 and \
            fs.is_dir(f"/etc/rc{words[1]}.d"):
        _sysv_runlevel(walker, env, words[1])
        return
    run_command_line(walker, entry.process, env)


def _procd_rcs(walker: Walker, env: Env, args: list[str]) -> None:
    """procd's built-in rcS: each /etc/rc.d/S* script with the given action, in name order."""
    fs = walker.fs
    pattern = args[0] if args else "S"
    action = args[1] if len(args) > 1 else "boot"
    for name in fs.listdir("/etc/rc.d"):
        if not name.startswith(pattern) or not re.match(r"[SK]\d", name):
            continue
        link = f"/etc/rc.d/{name}"
        chain = env.chain + (Step(link, None, f"procd runs {link} {action}"),)
        child = walker.new_env(env.file, chain, env.conds, parent=env)
        child.how = "procd"
        child.contexts.append(Context("script", next(_CONTEXT_IDS), len(child.conds)))
        saved = env.chain
        try:
            walker.run_program([Field(link), Field(action)], sh.Simple(0, text=f"{link} {action}"), child,
                               background=False)
        except WalkLimit:
            raise
        except Exception as exc:
            if type(exc).__name__ not in ("_ScriptExit", "_BranchStop"):
                raise
        finally:
            env.chain = saved


def _sysv_runlevel(walker: Walker, env: Env, level: str) -> None:
    """SysV rc: the S* links of the runlevel directory with 'start' (rcS.d first for runlevel S)."""
    fs = walker.fs
    directory = f"/etc/rc{level}.d"
    for name in fs.listdir(directory):
        if not re.match(r"S\d", name):
            continue
        link = f"{directory}/{name}"
        chain = env.chain + (Step(link, None, f"rc runs {link} start"),)
        child = walker.new_env(env.file, chain, env.conds, parent=env)
        child.how = "rc-script"
        child.contexts.append(Context("script", next(_CONTEXT_IDS), len(child.conds)))
        try:
            walker.run_program([Field(link), Field("start")], sh.Simple(0, text=f"{link} start"), child,
                               background=False)
        except Exception as exc:
            if type(exc).__name__ not in ("_ScriptExit", "_BranchStop"):
                raise


# -- systemd ----------------------------------------------------------------------------------------------


def _unit_path(fs: BootFS, name: str) -> str | None:
    for directory in _SYSTEMD_DIRS:
        path = f"{directory}/{name}"
        if fs.resolve(path) == "/dev/null":
            return None  # masked
        if fs.exists(path):
            target = fs.resolve(path)
            if target == "/dev/null":
                return None
            return path
    if "@" in name:
        template = re.sub(r"@[^.]*\.", "@.", name)
        if template != name:
            return _unit_path(fs, template)
    return None


def walk_systemd(walker: Walker) -> None:
    fs = walker.fs
    queue = ["default.target"]
    seen: set[str] = set()
    while queue and len(seen) < 2000:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        path = _unit_path(fs, name)
        if path is None:
            continue
        real = fs.content_path(path)
        text = fs.read_text(real) or ""
        unit = parse_unit(posixpath.basename(fs.resolve(path)), real, text)
        for key in ("Wants", "Requires", "Also"):
            for _, value in unit.values("Unit", key) + unit.values("Install", "Also" if key == "Also" else "_"):
                queue.extend(value.split())
        for alias in {name, unit.name}:
            seen.add(alias)
            for directory in _SYSTEMD_DIRS:
                for suffix in (".wants", ".requires"):
                    queue.extend(fs.listdir(f"{directory}/{alias}{suffix}"))
        if name.endswith(".socket"):
            service = unit.first("Socket", "Service") or re.sub(r"\.socket$", ".service", name)
            if (unit.first("Socket", "Accept") or "").lower() in ("yes", "true", "1"):
                service = service.replace(".service", "@.service")
            queue.append(service)
        if name.endswith(".service"):
            _systemd_service(walker, unit, name)
    if not seen - {"default.target"} and _unit_path(fs, "default.target") is None:
        walker.notes.append("systemd: default.target is not in the image")


def _systemd_service(walker: Walker, unit, name: str) -> None:
    conds = []
    for key in ("ConditionPathExists", "ConditionFileNotEmpty", "ConditionKernelCommandLine", "ConditionPathIsDirectory",
                "AssertPathExists", "ConditionVirtualization", "ConditionHost", "ConditionFirstBoot",
                "ConditionNeedsUpdate", "ConditionPathExistsGlob", "ConditionFileIsExecutable"):
        for line, value in unit.values("Unit", key):
            kinds = ("kernel-cmdline",) if "KernelCommandLine" in key else ("factory-default",) if "FirstBoot" in key else ("file",)
            conds.append(Condition(text=f"{key}={value}", where=Step(unit.path, line), kinds=kinds))
    user = unit.first("Service", "User") or "root"
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
        for line, value in unit.values("Service", key):
            command = value.lstrip("-@:+!")
            if not command:
                continue
            env = walker.new_env(unit.path, (Step(unit.path, line, f"{key}={value}"),), conds)
            env.how = "systemd"
            env.service = name
            env.user = user
            env.user_source = "systemd User=" if user != "root" else "systemd unit without User="
            env.respawn = (unit.first("Service", "Restart") or "no") not in ("no",)
            env.contexts.append(Context("script", next(_CONTEXT_IDS), len(env.conds)))
            run_command_line(walker, command, env)


# -- runit and upstart ------------------------------------------------------------------------------------


def walk_runit(walker: Walker) -> None:
    """runit: stage 1 (/etc/runit/1) then stage 2 (/etc/runit/2, which starts runsvdir on the service folder)."""
    for stage in ("/etc/runit/1", "/etc/runit/2"):
        if not walker.fs.is_file(stage):
            walker.notes.append(f"runit: {stage} is not in the image")
            continue
        env = walker.new_env(stage, (Step(stage, None, f"runit runs {stage}"),), [])
        env.how = "rc-script"
        walker.run_program([Field(stage)], sh.Simple(0, text=stage), env, background=False)


def walk_upstart(walker: Walker) -> None:
    """upstart: every job in /etc/init with a `start on` stanza; its exec line and its script blocks (the
    stop-time blocks are not start-up)."""
    fs = walker.fs
    for name in fs.listdir("/etc/init"):
        path = f"/etc/init/{name}"
        if not name.endswith(".conf") or not fs.is_file(path):
            continue
        job = parse_upstart(fs.read_text(path) or "")
        if job.start_on is None or job.manual:
            continue
        for line, text, is_block in job.commands:
            env = walker.new_env(path, (Step(path, job.start_on[0], f"start on {job.start_on[1]}"),), [])
            env.how = "upstart"
            env.service = name[:-5]
            env.respawn = job.respawn
            if job.user:
                env.user, env.user_source = job.user, "upstart setuid"
            env.contexts.append(Context("script", next(_CONTEXT_IDS), len(env.conds)))
            if is_block:
                script = walker.parse_string("\n" * (line - 1) + text, max_tokens=20000)
                if script is None:
                    continue
                env.file = path
                try:
                    walker.exec_seq(script.body, env)
                except Exception as exc:  # an exit inside the block ends the block
                    if type(exc).__name__ not in ("_ScriptExit", "_BranchStop"):
                        raise
            else:
                env.chain = env.chain + (Step(path, line, f"exec {text}"),)
                run_command_line(walker, text, env)
