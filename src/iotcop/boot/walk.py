"""The boot walk: an abstract run of the init system and every script it reaches.

Scripts are not executed.  Each command is expanded with what the image settles (see words.py) and then
dispatched: builtins change the walk's state (variables, functions, the working directory), file commands
change the boot tree (fs.py), scripts are walked in turn, and every other program becomes a
StartedProgram with the chain of (file, line) steps that reached it and the conditions it runs under.
A branch the image does not settle is walked on both sides, each side carrying its condition.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
import time
from dataclasses import dataclass, field, replace

import iotcop.boot.shell as sh
from iotcop.boot.formats import parse_crontab, parse_inetd, parse_uci, parse_xinetd
from iotcop.boot.fs import BootFS, Chunk
from iotcop.boot.model import BootMount, BootWrite, Condition, MissingProgram, ScriptRun, StartedProgram, Step
from iotcop.boot.words import SET_IN_BRANCH, UNSET, Expander, Field, Seg, Var

DEFAULT_PATH = "/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/sbin:/usr/local/bin"
SHELLS = frozenset({"sh", "ash", "bash", "hush", "msh", "dash", "ksh", "mksh", "zsh", "lash"})
# Internet super-servers that read an inetd.conf (BusyBox, OpenBSD and GNU inetutils inetd).
INETDS = frozenset({"inetd", "inetutils-inetd"})

# Commands that configure something and exit: they are followed for their effects on the tree (copies,
# links, mounts, archives) but are not listed as started programs.
ONE_SHOT = frozenset("""
mkdir rmdir rm cp mv ln cat chmod chown chgrp touch mount umount mknod insmod rmmod modprobe depmod lsmod ifconfig
route ip iptables ip6tables ebtables arptables iptables-restore ip6tables-restore brctl vconfig iwpriv iwconfig iw
sleep usleep sed awk grep egrep fgrep cut head tail sort uniq wc tr expr date hostname sysctl kill killall pidof
ps sync dmesg basename dirname ls find xargs tee md5sum sha256sum logger hwclock uname id stty tty which readlink
mkfifo swapon swapoff dd df du free seq yes uci nvram fw_printenv fw_setenv getenv setenv printenv tar gunzip
gzip bunzip2 unzip xz cpio ldconfig mdev udevadm ubiattach ubimkvol ubidetach flash_erase flash_eraseall
mtd arp tc sh-echo wget curl ping ping6 nslookup true false test [ clear reset chpasswd passwd adduser addgroup
deluser delgroup setconsole loadkmap chroot-check devmem himm printf echo env-check stat file diff cmp
md5 sha1sum base64 hexdump od strings getty-check setserial ethtool mii_mgr switch reg ubus jsonfilter
""".split())

BUILTINS = frozenset({"cd", "export", "local", "readonly", "set", "unset", "shift", "read", "return", "exit", "trap",
                      "wait", "ulimit", "umask", "break", "continue", "type", "alias", "unalias", "let", "hash",
                      "getopts", "times", ":", "true", "false", "test", "[", "[[", "echo", "printf", "eval",
                      ".", "source", "exec", "command", "declare", "typeset", "builtin"})

# OpenWrt shell libraries whose functions the walk provides itself (config_*, procd_*, service_*).
OPENWRT_LIBRARIES = frozenset({"/lib/functions.sh", "/lib/functions/procd.sh", "/lib/functions/service.sh",
                               "/etc/rc.common", "/lib/config/uci.sh", "/lib/functions/network.sh",
                               "/usr/share/libubox/jshn.sh", "/lib/functions/system.sh"})

# Standard libraries whose strings are not a device's own start-up commands.
SYSTEM_LIBRARIES = re.compile(r"^(?:ld-|libc[.-]|libuClibc|libm[.-]|libdl|libpthread|librt[.-]|libgcc|libstdc\+\+|"
                              r"libcrypt[.-]|libcrypto|libssl|libz[.]|libresolv|libnsl|libutil|libatomic|libubox|"
                              r"libjson|libblobmsg|libuci|libubus|libncurses|libreadline|libcurl|libxml2|libglib|"
                              r"libdbus|libsqlite|libevent|libpcap|libnl|libiw)")


class WalkLimit(Exception):
    pass


class _ScriptExit(Exception):
    def __init__(self, target: int) -> None:
        self.target = target


class _BranchStop(Exception):
    def __init__(self, target: int, conds: tuple[Condition, ...], where: Step | None = None) -> None:
        self.target = target
        self.conds = conds
        self.where = where


class _LoopStop(Exception):
    pass


@dataclass
class Limits:
    max_depth: int = 24  # nested scripts, functions and sourced files
    max_scripts: int = 3000  # script and function runs in all
    max_commands: int = 400_000
    max_seconds: float = 30.0
    max_runs_per_script: int = 40
    max_strings_files: int = 64
    max_strings_bytes: int = 48 * 1024 * 1024
    max_strings_depth: int = 2


@dataclass
class Context:
    kind: str  # script, function, source
    ident: int
    base: int  # len(conds) at entry
    branch: int = 0  # unsettled branches open at entry
    locals: set = field(default_factory=set)  # names declared `local` in a function


@dataclass
class Env:
    file: str
    vars: dict[str, Var]
    functions: dict[str, tuple[object, str]]
    positional: list[Field]
    cwd: str = "/"
    chain: tuple[Step, ...] = ()
    conds: list[Condition] = field(default_factory=list)
    user: str = "root"
    user_source: str | None = None
    how: str = "rc-script"
    respawn: bool = False
    confidence: str = "confirmed"
    last_command: str = ""
    contexts: list[Context] = field(default_factory=list)
    exported: set[str] = field(default_factory=set)
    uci: dict = field(default_factory=dict)  # loaded UCI package name -> sections
    procd: dict | None = None
    depth: int = 0
    started_by: str | None = None
    launched_by: str | None = None
    service: str | None = None
    script_name: str = "sh"
    stops: list = field(default_factory=list)
    branch: int = 0  # unsettled branches open around the current command
    tty: str | None = None
    action: str | None = None
    login_shell: bool = False
    active: list = field(default_factory=list)  # functions and sourced files being walked (no recursion)
    stdin_fed: bool = False  # the current command reads a pipe, file or here-document, not a terminal
    config_file: str | None = None  # the configuration file being sourced (its values are switches)
    status_of: str = ""  # the command whose exit status $? holds while the current command runs

    def lookup(self, name: str) -> Var | None:
        return self.vars.get(name)

    def assign(self, name: str, var: Var) -> None:
        self.vars[name] = var


_CONTEXT_IDS = iter(range(1, 1 << 62))


class Walker:
    def __init__(self, fs: BootFS, limits: Limits | None = None) -> None:
        self.fs = fs
        self.limits = limits or Limits()
        self.programs: list[StartedProgram] = []
        self.missing: list[MissingProgram] = []
        self.scripts: list[ScriptRun] = []
        self.writes: list[BootWrite] = []
        self.mounts: list[BootMount] = []
        self.notes: list[str] = []
        self.truncated: list[str] = []
        self.parse_errors: list[str] = []
        self.inittab_reloads: list[tuple[Step, ...]] = []
        self.crontab_dirs: list[tuple[str, Env]] = []
        self.started_cron: list[Env] = []
        self.runs: dict[str, int] = {}
        self.commands = 0
        self.script_runs = 0
        self.deadline = time.monotonic() + self.limits.max_seconds
        self._parsed: dict[str, sh.Script | None] = {}
        self._seen_programs: set = set()
        self._seen_missing: set = set()
        self._seen_writes: set = set()
        self.strings_files = 0
        self._strings: dict = {}

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _truncate(self, why: str) -> None:
        if why not in self.truncated:
            self.truncated.append(why)

    def _tick(self) -> None:
        self.commands += 1
        if self.commands > self.limits.max_commands:
            raise WalkLimit(f"more than {self.limits.max_commands} commands walked")
        if self.commands % 256 == 0 and time.monotonic() > self.deadline:
            raise WalkLimit(f"the walk took more than {self.limits.max_seconds:g} s")

    def confidence(self, env: Env) -> str:
        if env.confidence != "confirmed":
            return env.confidence
        return "conditional" if env.conds else "confirmed"

    def parsed(self, path: str) -> sh.Script | None:
        if path not in self._parsed:
            text = self.fs.read_text(path)
            script = None
            if text is not None:
                try:
                    script = sh.parse(text)
                except sh.ParseLimit as exc:
                    self._truncate(f"{path}: {exc}")
                if script is not None:
                    for line, what in script.errors[:20]:
                        self.parse_errors.append(f"{path}:{line}: {what}")
            self._parsed[path] = script
        return self._parsed[path]

    def parse_string(self, text: str, max_tokens: int = 5000) -> sh.Script | None:
        """A command line from a substitution, eval, su -c or crontab, parsed once per walk."""
        key = (text, max_tokens)
        if key not in self._strings:
            try:
                self._strings[key] = sh.parse(text, max_tokens=max_tokens)
            except sh.ParseLimit:
                self._strings[key] = None
        return self._strings[key]

    def new_env(self, file: str, chain: tuple[Step, ...], conds: list[Condition], args: list[Field] | None = None,
                parent: Env | None = None, **kw) -> Env:
        variables: dict[str, Var] = {"PATH": Var(DEFAULT_PATH)}
        exported: set[str] = set()
        if parent is not None:
            for name in parent.exported | {"PATH"}:
                if name in parent.vars:
                    variables[name] = parent.vars[name]
            exported = set(parent.exported)
        env = Env(file=file, vars=variables, functions={}, positional=list(args or []), chain=chain,
                  conds=list(conds), exported=exported, script_name=file, **kw)
        if parent is not None:
            env.user, env.user_source = parent.user, parent.user_source
            env.confidence = parent.confidence
            env.respawn = parent.respawn
            env.started_by = parent.started_by
            env.launched_by = parent.launched_by
            env.cwd = parent.cwd
            env.tty, env.action = parent.tty, parent.action
        return env

    # -- running scripts ---------------------------------------------------------------------------------
    def run_script(self, path: str, env: Env, sourced: bool = False) -> None:
        """Walk a script file in `env` (a fresh env for an executed script, the caller's for `.`)."""
        real = self.fs.content_path(path, env.cwd)
        count = self.runs.get(real, 0)
        if count >= self.limits.max_runs_per_script:
            self._truncate(f"{real}: walked {count} times, later runs skipped")
            return
        if env.depth > self.limits.max_depth:
            self._truncate(f"nesting deeper than {self.limits.max_depth} at {path}")
            return
        self.script_runs += 1
        if self.script_runs > self.limits.max_scripts:
            raise WalkLimit(f"more than {self.limits.max_scripts} script runs")
        self.runs[real] = count + 1
        script = self.parsed(real)
        if script is None:
            return
        # A sourced file of nothing but assignments is a configuration file: its values are defaults the
        # device may change, so tests on them stay conditions.
        config = sourced and bool(script.body.items) and all(_is_assignment_only(item) for item in script.body.items)
        storage = self.fs.storage_of(self.fs.resolve(path, env.cwd))
        self.scripts.append(ScriptRun(real, env.chain, tuple(env.conds), sourced, storage is not None,
                                      storage.target if storage else None, self.confidence(env)))
        context = Context("source" if sourced else "script", next(_CONTEXT_IDS), len(env.conds), env.branch)
        saved_file, saved_config = env.file, env.config_file
        env.file = real
        env.config_file = real if config else None
        env.contexts.append(context)
        saved_conds = list(env.conds)
        try:
            self.exec_seq(script.body, env)
        except (_ScriptExit, _BranchStop) as stop:  # an exit or return of this script or function ends it here
            if stop.target != context.ident:
                raise
        finally:
            env.contexts.pop()
            env.stops = [stop for stop in env.stops if stop.target != context.ident]
            env.file, env.config_file = saved_file, saved_config
            if sourced:
                env.conds[:] = saved_conds

    def exec_seq(self, seq: sh.Seq, env: Env):
        status = True
        for item in seq.items:
            if item.background:
                saved = env.how
                status = self.exec_andor(item.node, env, background=True)
                env.how = saved
                status = True
            else:
                status = self.exec_andor(item.node, env)
        return status

    def exec_andor(self, node: sh.AndOr, env: Env, background: bool = False):
        status = self.exec_pipeline(node.first, env, background)
        pending: list[Condition] = []
        previous = node.first
        for op, pipe in node.rest:
            if status is True and op == "||" or status is False and op == "&&":
                # settled: the right side does not run, but a later operator may still apply
                previous = pipe
                continue
            if status is None:
                cond = self.condition_for(previous, env, negated=(op == "||"))
                pending.append(cond)
                status = self.with_conditions(env, list(pending), lambda: self.exec_pipeline(pipe, env, background))
                # unknown afterwards: the right side may or may not have run
                status = None
            else:
                status = self.exec_pipeline(pipe, env, background)
            previous = pipe
        return status

    def with_conditions(self, env: Env, conds: list[Condition], fn):
        """Run fn with extra conditions; a conditional exit inside guards what follows at this level."""
        level = len(env.conds)
        mark = len(env.stops)
        env.conds.extend(conds)
        opened = bool(conds)
        env.branch += opened
        result = None
        try:
            result = fn()
        except _BranchStop as stop:
            env.stops.append(stop)
            if not any(c.ident == stop.target for c in env.contexts):
                raise
        finally:
            del env.conds[level:]
            env.branch -= opened
        for stop in env.stops[mark:]:
            if len(stop.conds) > level and any(c.ident == stop.target for c in env.contexts):
                guard = self.guard(stop.conds[level:], stop.where)
                if guard not in env.conds:
                    env.conds.append(guard)
        return result

    def guard(self, conds: tuple[Condition, ...], where: Step | None) -> Condition:
        """What follows a conditional exit runs only when that exit was not taken."""
        where = where or (conds[-1].where if conds else Step("?", None))
        taken = " and ".join(c.describe() for c in conds) or "?"
        kinds = tuple(sorted({k for c in conds for k in c.kinds}))
        default = None
        if conds and all(c.default_holds is not None for c in conds):
            default = not all(c.default_holds for c in conds)
        return Condition(text=f"the early exit at {where.file}:{where.line} is not taken", where=where,
                         kinds=kinds, sources=(f"it is taken when {taken}",), default_holds=default)

    def exec_pipeline(self, pipe: sh.Pipeline, env: Env, background: bool = False):
        status = None
        stdin: str | None = None
        for index, command in enumerate(pipe.commands):
            last = index == len(pipe.commands) - 1
            saved = env.stdin_fed
            env.stdin_fed = index > 0
            try:
                status = self.exec_command(command, env, background=background and last, stdin=stdin,
                                           in_pipe=len(pipe.commands) > 1)
            finally:
                env.stdin_fed = saved
            stdin = None
        if len(pipe.commands) > 1:
            env.last_command = " | ".join(c.text for c in pipe.commands if isinstance(c, sh.Simple))
        if pipe.negate and status is not None:
            status = not status
        return status

    def exec_command(self, node, env: Env, background: bool = False, stdin: str | None = None, in_pipe: bool = False):
        self._tick()
        if isinstance(node, sh.Simple):
            return self.exec_simple(node, env, background)
        if isinstance(node, sh.Function):
            env.functions[node.name] = (node.body, env.file)
            return True
        if background:
            saved = env.how
            result = self._exec_compound(node, env)
            env.how = saved
            return result
        return self._exec_compound(node, env)

    def _exec_compound(self, node, env: Env):
        if isinstance(node, sh.If):
            return self.exec_if(node, env)
        if isinstance(node, sh.Loop):
            return self.exec_loop(node, env)
        if isinstance(node, sh.For):
            return self.exec_for(node, env)
        if isinstance(node, sh.Case):
            return self.exec_case(node, env)
        if isinstance(node, sh.Group):
            if node.subshell:
                saved_vars, saved_cwd = dict(env.vars), env.cwd
                try:
                    return self.exec_seq(node.body, env)
                finally:
                    env.vars, env.cwd = saved_vars, saved_cwd
            return self.exec_seq(node.body, env)
        return None

    # -- compound commands -------------------------------------------------------------------------------
    def exec_if(self, node: sh.If, env: Env):
        negations: list[Condition] = []
        for cond_seq, body in node.clauses:
            status = self.with_conditions(env, list(negations), lambda cs=cond_seq: self.exec_seq(cs, env))
            if status is False:
                continue
            if status is True:
                return self.with_conditions(env, list(negations), lambda b=body: self.exec_seq(b, env))
            cond = self.condition_for(cond_seq, env)
            self.with_conditions(env, negations + [cond], lambda b=body: self.exec_seq(b, env))
            negations.append(replace(cond, negated=not cond.negated,
                                     default_holds=None if cond.default_holds is None else not cond.default_holds))
        if node.orelse is not None:
            self.with_conditions(env, list(negations), lambda: self.exec_seq(node.orelse, env))
        return None

    def exec_loop(self, node: sh.Loop, env: Env):
        status = self.exec_seq(node.cond, env)
        if node.kind == "until" and status is not None:
            status = not status
        respawn = _is_forever(node)
        if status is False and not respawn:
            return True
        saved = env.respawn
        try:
            if respawn or status is True:
                env.respawn = env.respawn or respawn
                try:
                    self.exec_seq(node.body, env)
                except _LoopStop:
                    pass
            else:
                cond = self.condition_for(node.cond, env, negated=node.kind == "until")
                cond = replace(cond, kinds=tuple(sorted(set(cond.kinds) | {"loop"})))

                def body():
                    try:
                        self.exec_seq(node.body, env)
                    except _LoopStop:
                        pass

                self.with_conditions(env, [cond], body)
        finally:
            env.respawn = saved
        return True

    def exec_for(self, node: sh.For, env: Env):
        if node.words is None:
            values = list(env.positional)
        else:
            values = []
            for word in node.words:
                values.extend(self.expand(word.raw, env))
        if len(values) > 512:
            self._truncate(f"{env.file}:{node.line}: for loop over {len(values)} values, first 512 walked")
            values = values[:512]
        unknown = [v for v in values if not v.known]
        for value in values:
            env.vars[node.var] = Var(value.text if value.known else None,
                                     origin=f"for {node.var} in ... ({env.file}:{node.line})",
                                     kinds=value.kinds, switch=value.switch)
            if not value.known and unknown:
                cond = Condition(text=f"for {node.var} in {' '.join(w.raw for w in node.words or [])}",
                                 where=Step(env.file, node.line), expanded=f"{node.var} takes a value of {value.text}",
                                 kinds=tuple(sorted(value.kinds | {"loop"})), sources=value.sources)

                def body():
                    try:
                        self.exec_seq(node.body, env)
                    except _LoopStop:
                        pass

                self.with_conditions(env, [cond], body)
                continue
            try:
                self.exec_seq(node.body, env)
            except _LoopStop:
                continue
        return True

    def exec_case(self, node: sh.Case, env: Env):
        subject = self.expand_one(node.word.raw, env)
        negations: list[Condition] = []
        for patterns, body in node.items:
            pats = [self.expand_one(p.raw, env, split=False) for p in patterns]
            decided = None
            if subject.settled(False) and all(p.known for p in pats):
                decided = any(fnmatch.fnmatchcase(subject.text, _case_pattern(p)) for p in pats)
            if decided is False:
                continue
            text = f"case {node.word.raw} in {'|'.join(p.raw for p in patterns)})"
            default = None
            if subject.known and all(p.known for p in pats):
                default = _switch_default(any(fnmatch.fnmatchcase(subject.text, _case_pattern(p)) for p in pats),
                                          set(subject.kinds), subject.sources)
            cond = Condition(text=text, where=Step(env.file, node.line),
                             expanded=f"{subject.text} matches {'|'.join(p.text for p in pats)}",
                             kinds=tuple(sorted(set(subject.kinds) | {"case"})), sources=subject.sources,
                             default_holds=default)
            if decided is True:
                return self.with_conditions(env, list(negations), lambda b=body: self.exec_seq(b, env))
            self.with_conditions(env, negations + [cond], lambda b=body: self.exec_seq(b, env))
            negations.append(replace(cond, negated=True, default_holds=None if default is None else not default))
        return None

    # -- conditions --------------------------------------------------------------------------------------
    def condition_for(self, node, env: Env, negated: bool = False) -> Condition:
        simples = list(_simples(node))
        text = " ; ".join(s.text for s in simples) or "?"
        where = Step(env.file, simples[0].line if simples else None, text)
        expanded_parts = []
        kinds: set[str] = set()
        sources: list[str] = []
        expander = Expander(_Scope(self, env))
        for simple in simples:
            fields = [self.expand_one(w.raw, env, split=False) for w in simple.words]
            expanded_parts.append(" ".join(f.text for f in fields))
            for word in simple.words:
                for seg in expander.segments(word.raw):
                    kinds |= seg.kinds
                    sources.extend(s for s in seg.sources if s not in sources)
            kinds |= _command_kinds(simple, fields)
            if simple.words and simple.words[0].raw in ("[", "test", "[[") and fields:
                for op, arg in zip(fields, fields[1:]):
                    if op.text in ("-f", "-e", "-d", "-x", "-s", "-r", "-h", "-L", "-c", "-b"):
                        kinds.add("file")
                        storage = self.fs.storage_of(arg.text) if arg.known else None
                        if storage is not None and storage.writable:
                            sources.append(f"{arg.text} lies on writable storage ({storage.target})")
        expanded = " ; ".join(expanded_parts)
        default = _switch_default(self.evaluate_default(simples, env), kinds, sources)
        if default is not None and negated:
            default = not default
        if not kinds:
            kinds.add("other")
        return Condition(text=text, where=where, negated=negated, expanded=expanded if expanded != text else "",
                         kinds=tuple(sorted(kinds)), sources=tuple(sources), default_holds=default)

    def evaluate_default(self, simples: list[sh.Simple], env: Env) -> bool | None:
        if len(simples) != 1 or not simples[0].words or simples[0].words[0].raw not in ("[", "test", "[["):
            return None
        fields = [self.expand_one(w.raw, env, split=False) for w in simples[0].words]
        return self.evaluate_test(fields, env, use_defaults=True)

    def evaluate_test(self, fields: list[Field], env: Env, use_defaults: bool = False) -> bool | None:
        args = fields[1:]
        if fields and fields[0].text in ("[", "[[") and args and args[-1].text in ("]", "]]"):
            args = args[:-1]
        try:
            return _TestEval(self, env, args, use_defaults).run()
        except Exception:  # noqa: BLE001 - a malformed test is an unsettled one
            return None

    def file_test(self, op: str, path: str, env: Env) -> bool | None:
        resolved = self.fs.resolve(path, env.cwd)
        real = self.fs.content_path(path, env.cwd)
        if self.fs.storage_of(resolved) is not None:
            return None
        generated = self.fs.generated.get(real)
        if generated is not None:
            if op in ("-d",):
                return False
            return True if any(not c.conditions for c in generated.chunks) else None
        if real in self.fs.copies.values() or path in self.fs.copies:
            return True if op != "-d" else False
        exists = self.fs.exists(path, env.cwd)
        if not exists:
            return None  # may be created at run time (a flag file, a mount): a recorded condition
        if op == "-d":
            return self.fs.is_dir(path, env.cwd)
        if op in ("-f", "-s", "-r"):
            return self.fs.is_file(path, env.cwd) or None
        if op == "-x":
            return self.fs.is_executable(path, env.cwd) or self.fs.is_dir(path, env.cwd)
        if op in ("-h", "-L"):
            return resolved != posixpath.normpath(posixpath.join(env.cwd, path))
        return True

    # -- expansion ---------------------------------------------------------------------------------------
    def expand(self, raw: str, env: Env, split: bool = True, glob: bool = True) -> list[Field]:
        fields = Expander(_Scope(self, env)).fields(raw, split)
        if "$" in raw or "`" in raw:
            for f in fields:
                f.raw = raw
        if not glob:
            return fields
        out: list[Field] = []
        for f in fields:
            if f.globbable and f.known:
                matches = self.fs.glob(f.text, env.cwd)
                if matches:
                    out.extend(Field(m, True) for m in matches)
                    continue
            out.append(f)
        return out

    def expand_one(self, raw: str, env: Env, split: bool = False) -> Field:
        fields = Expander(_Scope(self, env)).fields(raw, split=False)
        if not fields:
            return Field("", True, quoted=True)
        if len(fields) == 1:
            return fields[0]
        merged = Field(" ".join(f.text for f in fields), all(f.known for f in fields))
        return merged

    def substitute(self, inner: str, raw: str, env: Env) -> Seg:
        """$( ... ): the output when the image settles it (cat of a file, a directory listing ...)."""
        origin = f"`{inner.strip()}` ({env.file}:{self._line(env)})"
        kinds = _text_kinds(inner)
        script = self.parse_string(inner, 2000)
        if script is None:
            return Seg(raw, False, expansion=True, kinds=kinds, sources=(origin,))
        simples = list(_simples(script.body))
        pipe = script.body.items[0].node.first if len(script.body.items) == 1 and not script.body.items[0].node.rest else None
        if pipe is not None and all(isinstance(c, sh.Simple) for c in pipe.commands):
            value = self._settle_pipeline(pipe.commands, env)
            if value is not None:
                text, extra = value
                return Seg(text, True, expansion=True, kinds=kinds | extra, switch=bool(extra & SWITCH_KINDS),
                           sources=(origin,) if extra else ())
        # walk what it runs (a program started inside $( ... ) still starts)
        for simple in simples:
            if simple.words and self.expand_one(simple.words[0].raw, env).text not in ONE_SHOT | BUILTINS:
                self.exec_simple(simple, env, background=False)
        return Seg(raw, False, expansion=True, kinds=kinds, sources=(origin,))

    def _line(self, env: Env) -> int | str:
        return env.chain[-1].line if env.chain and env.chain[-1].file == env.file else "?"

    def _settle_pipeline(self, commands: list[sh.Simple], env: Env) -> tuple[str, frozenset[str]] | None:
        first = commands[0]
        if not first.words:
            return None
        argv = []
        for w in first.words:
            argv.extend(self.expand(w.raw, env))
        if not argv or not all(a.known for a in argv):
            return None
        name = posixpath.basename(argv[0].text)
        rest = [a.text for a in argv[1:]]
        text: str | None = None
        extra: frozenset[str] = frozenset()
        if name == "cat" and rest and all(not r.startswith("-") for r in rest):
            parts = []
            for path in rest:
                if path.startswith("/proc/") or self.fs.storage_of(self.fs.resolve(path, env.cwd)) is not None:
                    return None
                content = self.fs.read_text(path, env.cwd)
                if content is None:
                    return None
                parts.append(content)
            text = "".join(parts)
        elif name == "echo":
            text = " ".join(r for r in rest if r not in ("-n", "-e"))
        elif name == "basename" and rest:
            text = posixpath.basename(rest[0].rstrip("/"))
            if len(rest) > 1 and text.endswith(rest[1]):
                text = text[:-len(rest[1])]
        elif name == "dirname" and rest:
            text = posixpath.dirname(rest[0].rstrip("/")) or "."
        elif name == "pwd":
            text = env.cwd
        elif name == "which" and rest:
            found = self.lookup_program(rest[0], env)
            text = found or ""
            if not found:
                return None
        elif name in ("ls", "find") and rest:
            listing = self._listing(name, rest, env)
            if listing is None:
                return None
            text = "\n".join(listing)
        elif name == "uci" and rest:
            got = self._uci_get([r for r in rest if not r.startswith("-")], env)
            if got is None:
                return None
            text, extra = got, frozenset({"uci"})
        else:
            return None
        # the rest of the pipeline: sorting keeps a listing, anything else filters unknowably
        for cmd in commands[1:]:
            words = [self.expand_one(w.raw, env).text for w in cmd.words]
            if not words:
                return None
            tool = posixpath.basename(words[0])
            if tool == "sort" and len(words) == 1:
                text = "\n".join(sorted(text.split("\n")))
            elif tool == "head" and words[1:] in (["-n", "1"], ["-1"], ["-n1"]):
                text = text.split("\n", 1)[0]
            else:
                return None
        return text.rstrip("\n"), extra

    def _listing(self, tool: str, args: list[str], env: Env) -> list[str] | None:
        if tool == "ls":
            paths = [a for a in args if not a.startswith("-")]
            out = []
            for p in paths:
                if self.fs.is_dir(p, env.cwd):
                    out.extend(self.fs.listdir(p, env.cwd))
                elif self.fs.exists(p, env.cwd):
                    out.append(p)
            return out
        roots = []
        only_files = False
        name_pattern = None
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-type" and i + 1 < len(args):
                only_files = args[i + 1] == "f"
                i += 2
                continue
            if a in ("-name", "-iname") and i + 1 < len(args):
                name_pattern = args[i + 1]
                i += 2
                continue
            if a in ("-follow", "-L", "-H", "-print"):
                i += 1
                continue
            if a in ("-maxdepth", "-mindepth"):
                i += 2
                continue
            if a.startswith("-"):
                return None
            roots.append(a)
            i += 1
        out = []
        for root in roots:
            stack = [root]
            while stack and len(out) < 4096:
                directory = stack.pop()
                for name in self.fs.listdir(directory, env.cwd):
                    path = posixpath.join(directory, name)
                    if self.fs.is_dir(path, env.cwd):
                        stack.append(path)
                        if only_files:
                            continue
                    if name_pattern and not fnmatch.fnmatchcase(name, name_pattern):
                        continue
                    out.append(path)
        return out

    # -- UCI -------------------------------------------------------------------------------------------
    def uci_package(self, name: str, env: Env):
        if name not in env.uci:
            path = f"/etc/config/{name}"
            text = self.fs.read_text(path)
            env.uci[name] = parse_uci(text, name) if text is not None else []
        return env.uci[name]

    def _uci_get(self, args: list[str], env: Env) -> str | None:
        if len(args) < 2 or args[0] != "get":
            return None
        parts = args[1].split(".")
        if len(parts) != 3:
            return None
        package, section, option = parts
        for sec in self.uci_package(package, env):
            if sec.name == section or (section.startswith("@") and sec.type == section[1:].split("[")[0]):
                if option in sec.options:
                    return sec.options[option][0]
        return None

    # -- simple commands ---------------------------------------------------------------------------------
    def exec_simple(self, node: sh.Simple, env: Env, background: bool = False):
        step = Step(env.file, node.line, node.text)
        saved_chain, saved_fed = env.chain, env.stdin_fed
        env.chain = saved_chain + (step,)
        env.status_of = env.last_command
        try:
            return self._simple(node, env, background)
        finally:
            env.chain, env.stdin_fed = saved_chain, saved_fed
            env.last_command = node.text

    def _simple(self, node: sh.Simple, env: Env, background: bool):
        prefix: dict[str, Var] = {}
        for word in node.assigns:
            name, _, raw = word.raw.partition("=")
            value = self.expand_one(raw, env, split=False)
            origin = f"{env.file}:{node.line}"
            if value.sources and (not value.known or value.kinds):
                origin = value.sources[0]
            elif not value.known or "$(" in raw or "`" in raw:
                origin = f"{raw} ({env.file}:{node.line})"  # what the value was read from
            if env.config_file is not None and not node.words:
                prefix[name] = Var(value.text if value.known else None, origin=f"{env.config_file}:{node.line}",
                                   kinds=value.kinds | {"config"}, switch=True)
                continue
            in_branch = self._in_branch(env)
            kinds = value.kinds
            if in_branch:
                base = env.contexts[-1].base if env.contexts else 0
                kinds = kinds | {k for c in env.conds[base:] for k in c.kinds if k not in ("other", "file", "case")}
                where = origin if origin != f"{env.file}:{node.line}" else f"{env.file}:{node.line}"
                origin = f"{where}{SET_IN_BRANCH}" + "; ".join(c.describe()[:120] for c in env.conds[base:])
            prefix[name] = Var(value.text if value.known else None, origin=origin, kinds=frozenset(kinds),
                               switch=value.switch, conditional=in_branch)
        argv: list[Field] = []
        for word in node.words:
            argv.extend(self.expand(word.raw, env))
        if not argv:
            env.vars.update(prefix)
            self.apply_redirects(node, env, None, None)
            return True
        if any(r.op in ("<", "<<", "<<-") for r in node.redirects):
            env.stdin_fed = True
        content, content_known = self.output_of(argv, node, env)
        self.apply_redirects(node, env, content, content_known, self._chunks_of(argv, node, env),
                             source=self._filter_input(argv, node, env))
        saved_vars = None
        if prefix:
            saved_vars = {k: env.vars.get(k) for k in prefix}
            env.vars.update(prefix)
            env.exported |= set(prefix)
        try:
            return self.dispatch(argv, node, env, background)
        finally:
            if saved_vars is not None:
                for k, v in saved_vars.items():
                    if v is None:
                        env.vars.pop(k, None)
                    else:
                        env.vars[k] = v

    def output_of(self, argv: list[Field], node: sh.Simple, env: Env) -> tuple[str | None, bool]:
        """What a command writes to standard output, when it is the script's own text."""
        name = posixpath.basename(argv[0].text)
        args = argv[1:]
        if name == "echo":
            flags = []
            while args and args[0].text in ("-n", "-e", "-ne", "-en"):
                flags.append(args.pop(0).text)
            text = " ".join(a.text for a in args) + ("" if any("n" in f for f in flags) else "\n")
            return text, all(a.known for a in args)
        if name == "printf" and args:
            fmt = args[0].text.replace("\\n", "\n").replace("\\t", "\t")
            values = [a.text for a in args[1:]]
            try:
                text = fmt % tuple(values) if "%" in fmt and values else fmt
            except (TypeError, ValueError):
                text = " ".join([fmt, *values])
            return text, all(a.known for a in args)
        if name == "cat":
            for redirect in node.redirects:
                if redirect.heredoc is not None:
                    body = redirect.heredoc.body
                    if redirect.heredoc.quoted:
                        return body, True
                    value = Expander(_Scope(self, env)).segments(body, in_dq=True)
                    return "".join(s.text for s in value), all(s.known for s in value)
                if redirect.op == "<" and redirect.target is not None:
                    src = self.expand_one(redirect.target.raw, env).text
                    return self.fs.read_text(src, env.cwd), True
            files = [a.text for a in args if not a.text.startswith("-")]
            if files and all(a.known for a in args):
                parts = []
                for path in files:
                    for match in (self.fs.glob(path, env.cwd) if any(c in path for c in "*?[") else [path]):
                        text = self.fs.read_text(match, env.cwd)
                        if text is not None:
                            parts.append(text)
                return "".join(parts), True
        return None, False

    def _chunks_of(self, argv: list[Field], node: sh.Simple, env: Env) -> list[Chunk] | None:
        """For `cat` of generated files: their chunks, so each line keeps the conditions it was written under."""
        if posixpath.basename(argv[0].text) != "cat":
            return None
        paths = []
        for redirect in node.redirects:
            if redirect.op == "<" and redirect.target is not None:
                paths.append(self.expand_one(redirect.target.raw, env).text)
        for a in argv[1:]:
            if not a.known:
                return None
            if not a.text.startswith("-"):
                paths.extend(self.fs.glob(a.text, env.cwd) if any(c in a.text for c in "*?[") else [a.text])
        chunks: list[Chunk] = []
        any_generated = False
        for path in paths:
            real = self.fs.content_path(path, env.cwd)
            generated = self.fs.generated.get(real)
            if generated is not None:
                any_generated = True
                chunks.extend(generated.chunks)
            else:
                text = self.fs.read_text(path, env.cwd)
                if text is not None:
                    chunks.append(Chunk(text, True, env.chain, ()))
        return chunks if any_generated else None

    def _filter_input(self, argv: list[Field], node: sh.Simple, env: Env) -> str | None:
        """The file in the image a filter (sed, awk, grep, cat ...) turns into its output: a template whose
        rendering the boot chain writes somewhere."""
        name = posixpath.basename(argv[0].text)
        if name not in _FILTERS:
            return None
        inputs = [self.expand_one(r.target.raw, env).text for r in node.redirects
                  if r.op == "<" and r.target is not None]
        args = argv[1:]
        operands: list[Field] = []
        scripted = False  # the program text came with -e/-f, so no operand is the program
        i = 0
        while i < len(args):
            text = args[i].text
            if text in ("-e", "-f", "--expression", "--file") and name in ("sed", "awk"):
                scripted, i = True, i + 2
                continue
            if text in ("-F", "-v") and name == "awk" or text in ("-d", "-f") and name == "cut":
                i += 2
                continue
            if not text.startswith("-") or text == "-":
                operands.append(args[i])
            i += 1
        if name in ("sed", "awk", "grep", "egrep", "fgrep") and not scripted:
            operands = operands[1:]  # the script or pattern
        inputs += [f.text for f in operands if f.known]
        for path in reversed(inputs):
            if self.fs.is_file(path, env.cwd):
                return self.fs.content_path(path, env.cwd)
        return None

    def apply_redirects(self, node: sh.Simple, env: Env, content: str | None, known: bool,
                        chunks: list[Chunk] | None = None, source: str | None = None) -> None:
        for redirect in node.redirects:
            if redirect.op not in (">", ">>", ">|", "&>") or redirect.target is None:
                continue
            if redirect.fd not in (None, 1):
                continue
            target = self.expand_one(redirect.target.raw, env)
            if not target.known or not target.text:
                continue
            path = posixpath.normpath(posixpath.join(env.cwd, target.text))
            if path.startswith(("/dev/", "/proc/", "/sys/")) or path == "/dev/null":
                continue
            append = redirect.op == ">>"
            if chunks:
                for k, part in enumerate(chunks):
                    conds = tuple(env.conds) + tuple(c for c in part.conditions if c not in env.conds)
                    self.fs.write(path, Chunk(part.text, part.known, part.chain, conds), append or k > 0)
            else:
                chunk = Chunk(content if content is not None else "", bool(known and content is not None), env.chain,
                              tuple(env.conds))
                self.fs.write(path, chunk, append)
            self.add_write(BootWrite(path, "append" if append else "write", source,
                                     content if content is not None else None, env.chain, tuple(env.conds),
                                     self.confidence(env)))

    def add_write(self, write: BootWrite) -> None:
        if write.content and "${__format_argument}" in write.content:
            write = replace(write, content=write.content.replace("${__format_argument}", "%s"))
        key = (write.path, write.op, write.source, write.content, write.chain[-1] if write.chain else None)
        if key in self._seen_writes:
            return
        self._seen_writes.add(key)
        self.writes.append(write)

    # -- dispatch --------------------------------------------------------------------------------------
    def dispatch(self, argv: list[Field], node: sh.Simple, env: Env, background: bool):
        head = argv[0]
        if not head.known:
            self.add_missing(env, head.text, argv, f"the command name is not settled by the image ({head.text})",
                             path=None)
            return None
        name = head.text
        args = argv[1:]
        base = posixpath.basename(name)
        if "/" not in name and name in env.functions:
            return self.call_function(name, args, env)
        if "/" not in name:
            builtin = getattr(self, "b_" + _ident(name), None)
            if builtin is not None and (name in BUILTINS or name.startswith(("procd_", "config_", "service_"))
                                        or name in OPENWRT_HELPERS):
                return builtin(args, node, env, background)
        # rc.common helpers a vendor script may call through a path-less name
        if base in ("[", "test", "[[") or name in ("[", "test"):
            return self.evaluate_test(argv + ([Field("]")] if name == "[" and (not args or args[-1].text != "]") else []), env)
        return self.run_program(argv, node, env, background)

    def call_function(self, name: str, args: list[Field], env: Env):
        body, defined_in = env.functions[name]
        if ("function", name) in env.active:
            return None  # a recursive call: walked once already on this path
        env.active.append(("function", name))
        try:
            return self._call_function(name, body, defined_in, args, env)
        finally:
            env.active.pop()

    def _call_function(self, name: str, body, defined_in: str, args: list[Field], env: Env):
        if env.depth > self.limits.max_depth:
            self._truncate(f"function nesting deeper than {self.limits.max_depth} at {name}")
            return None
        self.script_runs += 1
        if self.script_runs > self.limits.max_scripts:
            raise WalkLimit(f"more than {self.limits.max_scripts} script runs")
        saved_args, saved_file = env.positional, env.file
        env.positional = list(args)
        env.file = defined_in
        env.depth += 1
        saved_vars = dict(env.vars)
        context = Context("function", next(_CONTEXT_IDS), len(env.conds), env.branch)
        env.contexts.append(context)
        try:
            self.exec_command(body, env)
        except (_ScriptExit, _BranchStop) as stop:  # an exit or return of this script or function ends it here
            if stop.target != context.ident:
                raise
        finally:
            env.contexts.pop()
            env.stops = [stop for stop in env.stops if stop.target != context.ident]
            del env.conds[context.base:]  # a conditional return guards the rest of the function only
            env.positional, env.file = saved_args, saved_file
            env.depth -= 1
            for lname in context.locals:
                if lname in saved_vars:
                    env.vars[lname] = saved_vars[lname]
                else:
                    env.vars.pop(lname, None)
        return None

    # builtins -----------------------------------------------------------------------------------------
    def b_cd(self, args, node, env, background):
        target = args[0] if args else Field("/root")
        if target.text == "-":
            previous = env.vars.get("OLDPWD")
            target = Field(previous.value if previous and previous.value else env.cwd)
        if not target.known:
            env.cwd = "/?"
            return None
        env.vars["OLDPWD"] = Var(env.cwd)
        env.cwd = posixpath.normpath(posixpath.join(env.cwd, target.text))
        return True

    def b_export(self, args, node, env, background):
        for arg in args:
            name, eq, value = arg.text.partition("=")
            if eq and name.isidentifier():
                env.vars[name] = Var(value if arg.known else None, f"{env.file}:{node.line}", kinds=arg.kinds,
                                     switch=arg.switch, conditional=self._in_branch(env))
            if name.isidentifier():
                env.exported.add(name)
        return True

    b_readonly = b_export
    b_declare = b_export
    b_typeset = b_export

    def b_local(self, args, node, env, background):
        function = next((c for c in reversed(env.contexts) if c.kind == "function"), None)
        for arg in args:
            name, eq, value = arg.text.partition("=")
            if not name.isidentifier():
                continue
            if function is not None:
                function.locals.add(name)
            env.vars[name] = Var(value if arg.known else None, f"{env.file}:{node.line}", kinds=arg.kinds,
                                 switch=arg.switch, conditional=self._in_branch(env)) if eq else Var("")
        return True

    def _in_branch(self, env: Env) -> bool:
        """Whether an assignment here is inside an unsettled branch of the current script or function."""
        base = env.contexts[-1].branch if env.contexts else 0
        return env.branch > base

    def b_set(self, args, node, env, background):
        if args and args[0].text == "--":
            env.positional = list(args[1:])
        elif args and not args[0].text.startswith(("-", "+")):
            env.positional = list(args)
        return True

    def b_unset(self, args, node, env, background):
        for arg in args:
            env.vars.pop(arg.text, None)
            env.functions.pop(arg.text, None)
        return True

    def b_shift(self, args, node, env, background):
        count = int(args[0].text) if args and args[0].text.isdigit() else 1
        env.positional = env.positional[count:]
        return True

    def b_read(self, args, node, env, background):
        for arg in args:
            if arg.text.isidentifier():
                env.vars[arg.text] = Var(None, f"read at {env.file}:{node.line}")
        return None

    def _stop(self, env: Env, kind: tuple[str, ...]):
        target = next((c for c in reversed(env.contexts) if c.kind in kind), None)
        if target is None:
            raise _ScriptExit(-1)
        if len(env.conds) > target.base:
            raise _BranchStop(target.ident, tuple(env.conds), env.chain[-1] if env.chain else None)
        raise _ScriptExit(target.ident)

    def b_exit(self, args, node, env, background):
        self._stop(env, ("script",))

    def b_return(self, args, node, env, background):
        self._stop(env, ("function", "source"))

    def b_break(self, args, node, env, background):
        raise _LoopStop()

    b_continue = b_break

    def b_true(self, args, node, env, background):
        return True

    def b_false(self, args, node, env, background):
        return False

    def b_colon(self, args, node, env, background):
        return True

    def b_echo(self, args, node, env, background):
        return True

    b_printf = b_echo

    def b_trap(self, args, node, env, background):
        return True

    b_wait = b_ulimit = b_umask = b_type = b_alias = b_unalias = b_hash = b_getopts = b_times = b_trap
    b_builtin = b_trap

    def b_let(self, args, node, env, background):
        return None

    def b_test(self, args, node, env, background):
        return self.evaluate_test([Field("test")] + list(args), env)

    def b_lbracket(self, args, node, env, background):
        return self.evaluate_test([Field("[")] + list(args), env)

    b_dlbracket = b_lbracket

    def b_eval(self, args, node, env, background):
        text = " ".join(a.text for a in args)
        if not all(a.known for a in args):
            return None
        script = self.parse_string(text)
        if script is None:
            return None
        return self.exec_seq(script.body, env)

    def b_dot(self, args, node, env, background):
        if not args:
            return None
        target = args[0]
        if not target.known:
            self.add_missing(env, target.text, args, "sourced file not settled by the image", path=None)
            return None
        path = target.text
        if "/" not in path:
            path = self.lookup_program(path, env) or posixpath.join(env.cwd, path)
        resolved = posixpath.normpath(posixpath.join(env.cwd, path))
        if resolved in OPENWRT_LIBRARIES or self.fs.content_path(resolved) in OPENWRT_LIBRARIES:
            return True
        if self.parsed(self.fs.content_path(resolved, env.cwd)) is None:
            storage = self.fs.storage_of(self.fs.resolve(resolved))
            self.add_missing(env, path, args, "sourced file is not in the image", path=resolved,
                             storage=storage.target if storage else None)
            return None
        if len(args) > 1:
            saved = env.positional
            env.positional = list(args[1:])
        else:
            saved = None
        real = self.fs.content_path(resolved, env.cwd)
        if ("source", real) in env.active:
            return None  # sourced again from inside itself: walked once already on this path
        env.depth += 1
        env.active.append(("source", real))
        try:
            self.run_script(resolved, env, sourced=True)
        finally:
            env.depth -= 1
            env.active.pop()
            if saved is not None:
                env.positional = saved
        return True

    b_source = b_dot

    def b_command(self, args, node, env, background):
        if args and args[0].text in ("-v", "-V"):
            return bool(self.lookup_program(args[1].text, env)) if len(args) > 1 else None
        if not args:
            return True
        return self.dispatch(list(args), node, env, background)

    def b_exec(self, args, node, env, background):
        if not args:
            return True
        while args and args[0].text.startswith("-"):
            args = args[1:] if args[0].text != "-a" else args[2:]
        if not args:
            return True
        self.dispatch(list(args), node, env, background)
        self._stop(env, ("script",))

    # OpenWrt helpers ---------------------------------------------------------------------------------
    def b_config_load(self, args, node, env, background):
        if args and args[0].known:
            self.uci_package(args[0].text, env)
            env.vars["__uci_current__"] = Var(args[0].text)
        return True

    def _uci_current(self, env):
        current = env.vars.get("__uci_current__")
        return self.uci_package(current.value, env) if current and current.value else [], \
            current.value if current else ""

    def b_config_get(self, args, node, env, background):
        if len(args) < 3:
            return None
        var, section, option = args[0].text, args[1].text, args[2].text
        default = args[3].text if len(args) > 3 else ""
        sections, package = self._uci_current(env)
        value = None
        origin = f"uci {package}.{section}.{option} (not set; default {default!r})"
        for sec in sections:
            if sec.name == section:
                if option in sec.options:
                    value, line = sec.options[option]
                    origin = f"uci {package}.{section}.{option} (/etc/config/{package}:{line})"
                elif option in sec.lists:
                    value = " ".join(sec.lists[option])
                    origin = f"uci list {package}.{section}.{option}"
        env.vars[var] = Var(value if value is not None else default, origin, frozenset({"uci"}), switch=True)
        return True

    def b_config_get_bool(self, args, node, env, background):
        self.b_config_get(args, node, env, background)
        if args:
            var = env.vars.get(args[0].text)
            if var is not None and var.value is not None:
                value = "1" if var.value.lower() in ("1", "on", "true", "yes", "enabled") else "0"
                env.vars[args[0].text] = replace(var, value=value)
        return True

    def b_config_foreach(self, args, node, env, background):
        if not args:
            return None
        function = args[0].text
        kind = args[1].text if len(args) > 1 else None
        sections, _ = self._uci_current(env)
        if function not in env.functions:
            return None
        for sec in list(sections):
            if kind is None or sec.type == kind:
                self.call_function(function, [Field(sec.name)] + list(args[2:]), env)
        return True

    def b_config_list_foreach(self, args, node, env, background):
        if len(args) < 3:
            return None
        section, option, function = args[0].text, args[1].text, args[2].text
        sections, _ = self._uci_current(env)
        if function not in env.functions:
            return None
        for sec in sections:
            if sec.name == section:
                for value in sec.lists.get(option, []):
                    self.call_function(function, [Field(value)] + list(args[3:]), env)
        return True

    def b_uci_get(self, args, node, env, background):
        return None

    def b_append(self, args, node, env, background):
        if len(args) < 2:
            return None
        var, value = args[0].text, args[1]
        sep = args[2].text if len(args) > 2 else " "
        old = env.vars.get(var)
        if old is not None and old.value is None or not value.known:
            env.vars[var] = Var(None, f"{env.file}:{node.line}")
            return True
        old_text = old.value if old is not None else ""
        env.vars[var] = Var(f"{old_text}{sep if old_text else ''}{value.text}", f"{env.file}:{node.line}",
                            kinds=value.kinds | (old.kinds if old else frozenset()),
                            switch=value.switch or bool(old and old.switch))
        return True

    def b_procd_open_instance(self, args, node, env, background):
        env.procd = {"argv": [], "user": None, "respawn": False, "name": args[0].text if args else None,
                     "step": env.chain}
        return True

    def b_procd_set_param(self, args, node, env, background):
        if env.procd is None or not args:
            return True
        key = args[0].text
        if key == "command":
            env.procd["argv"] = list(args[1:])
            env.procd["step"] = env.chain
        elif key == "user" and len(args) > 1:
            env.procd["user"] = args[1].text
        elif key == "respawn":
            env.procd["respawn"] = True
        return True

    def b_procd_append_param(self, args, node, env, background):
        if env.procd is not None and args and args[0].text == "command":
            env.procd["argv"].extend(args[1:])
        return True

    def b_procd_close_instance(self, args, node, env, background):
        instance, env.procd = env.procd, None
        if not instance or not instance["argv"]:
            return True
        saved = (env.how, env.user, env.user_source, env.respawn, env.chain, env.service)
        env.how = "procd"
        if instance["user"]:
            env.user, env.user_source = instance["user"], "procd user parameter"
        env.respawn = env.respawn or instance["respawn"]
        env.chain = instance["step"]
        env.service = instance["name"]
        try:
            self.run_program(instance["argv"], node, env, background=True, follow_scripts=True)
        finally:
            env.how, env.user, env.user_source, env.respawn, env.chain, env.service = saved
        return True

    def b_procd_open_service(self, args, node, env, background):
        return True

    b_procd_close_service = b_procd_open_trigger = b_procd_close_trigger = b_procd_add_reload_trigger = \
        b_procd_add_interface_trigger = b_procd_set_limits = b_procd_add_jail = b_procd_open_data = \
        b_procd_close_data = b_procd_add_validation = b_procd_open_validate = b_procd_close_validate = \
        b_procd_add_raw_trigger = b_procd_add_config_trigger = b_procd_open_service

    def b_service_start(self, args, node, env, background):
        args = list(args)
        while args and args[0].text.startswith("-"):
            args = args[1:]
        if args:
            saved = env.how
            env.how = "launcher"
            try:
                self.run_program(args, node, env, background=True)
            finally:
                env.how = saved
        return True

    def b_service_stop(self, args, node, env, background):
        return True

    b_service_reload = b_service_kill = b_service_check = b_service_stop

    # -- programs ---------------------------------------------------------------------------------------
    def lookup_program(self, name: str, env: Env) -> str | None:
        if "/" in name:
            path = posixpath.normpath(posixpath.join(env.cwd, name))
            return path if self.fs.is_file(path) else None
        path_var = env.vars.get("PATH")
        dirs = (path_var.value if path_var and path_var.value else DEFAULT_PATH).split(":")
        for directory in dirs:
            if not directory:
                continue
            candidate = posixpath.join(directory, name)
            if self.fs.is_file(candidate):
                return candidate
        return None

    def _dangling(self, name: str, env: Env) -> str | None:
        """A PATH entry that exists as a link whose target is missing (so the program is absent)."""
        path_var = env.vars.get("PATH")
        for directory in (path_var.value if path_var and path_var.value else DEFAULT_PATH).split(":"):
            candidate = posixpath.join(directory, name)
            if candidate in self.fs.entries or candidate in self.fs.links:
                return candidate
        return None

    def run_program(self, argv: list[Field], node: sh.Simple, env: Env, background: bool,
                    follow_scripts: bool = True, interactive: bool = False):
        argv = list(argv)
        user, user_source = env.user, env.user_source
        how = env.how
        root = ""
        # wrappers that run the next word as the program
        while argv:
            if not argv[0].known:
                break
            base = posixpath.basename(argv[0].text)
            rest = argv[1:]
            if base in ("nohup", "setsid", "cttyhack", "stdbuf", "unbuffer", "daemonize", "command", "time"):
                argv = _skip_opts(rest, {"-o", "-e", "-i"})
                how = "launcher" if base in ("nohup", "setsid", "daemonize") else how
                background = background or base in ("daemonize",)
                continue
            if base in ("nice", "ionice", "chrt", "taskset", "timeout", "flock", "renice"):
                argv = _skip_opts(rest, {"-n", "-c", "-p", "-s", "-k", "-w"})
                if base in ("chrt", "taskset", "timeout", "flock") and argv and not argv[0].text.startswith("/") \
                        and self.lookup_program(argv[0].text, env) is None:
                    argv = argv[1:]  # the priority, CPU mask, duration or lock file
                continue
            if base == "env":
                argv = rest
                while argv and (argv[0].text.startswith("-") or "=" in argv[0].text):
                    argv = argv[1:]
                continue
            if base in ("chpst", "setuidgid", "s6-setuidgid", "envuidgid"):
                if base == "chpst":
                    u = _opt_value(rest, "-u") or _opt_value(rest, "-U")
                    argv = _skip_opts(rest, {"-u", "-U", "-b", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r", "-t"})
                else:
                    u = rest[0].text if rest else None
                    argv = rest[1:]
                if u:
                    user, user_source = u.split(":")[0], f"{base} on the command line"
                continue
            if base in ("su", "runuser"):
                cmd = _opt_value(rest, "-c")
                names = [a.text for a in rest if not a.text.startswith("-") and a.text != cmd]
                target_user = names[0] if names else "root"
                if cmd is not None:
                    return self._run_string(cmd, env, user=target_user, user_source=f"{base} {target_user} -c",
                                            background=background)
                argv = []
                break
            if base == "sudo":
                u = _opt_value(rest, "-u")
                argv = _skip_opts(rest, {"-u", "-g", "-C"})
                if u:
                    user, user_source = u, "sudo -u"
                continue
            if base == "chroot" and rest:
                root = rest[0].text.rstrip("/")
                argv = rest[1:] or [Field("/bin/sh")]
                continue
            if base == "start-stop-daemon":
                parsed = _start_stop_daemon(rest)
                if parsed is None:
                    return True
                exe, args, u, bg = parsed
                if u:
                    user, user_source = u.split(":")[0], "start-stop-daemon --chuid"
                argv = [exe] + args
                background = background or bg
                how = "launcher"
                continue
            if base.startswith("busybox") and rest and rest[0].text in _WRAPPERS:
                argv = rest  # busybox nohup/timeout/nice ...: the wrapper applet runs the next word
                continue
            if base == "busybox" and rest and not rest[0].text.startswith("-"):
                # busybox APPLET: the applet runs from this very binary
                binary = self.lookup_program(argv[0].text, env) or argv[0].text
                return self._record_applet(binary, rest[0].text, rest[1:], node, env, background, how, user,
                                           user_source)
            break
        if not argv:
            return True
        head = argv[0]
        if not head.known:
            self.add_missing(env, head.text, argv, f"the command name is not settled by the image ({head.text})")
            return None
        name = head.text
        base = posixpath.basename(name)
        if base in SHELLS and len(argv) > 1 and not interactive:
            return self._run_shell(argv, node, env, background, user, user_source, how)
        if "/" not in name and name in env.functions:
            return self.call_function(name, argv[1:], env)
        if base in ("kill", "killall") and self._hup_init(argv):
            self.inittab_reloads.append(env.chain)
            return True
        if base in ("init", "telinit") and len(argv) > 1 and argv[1].text in ("q", "Q"):
            self.inittab_reloads.append(env.chain)
            return True
        if base in ONE_SHOT and base not in ("tar",):
            self.one_shot(base, argv, node, env)
            return None if base not in ("true",) else True
        if base == "tar":
            self.one_shot(base, argv, node, env)
            return None
        if base == "run-parts":
            return self._run_parts(argv, node, env)
        if base == "service" and len(argv) > 2 and "/" not in name and not self.lookup_program("service", env):
            script = f"/etc/init.d/{argv[1].text}"
            return self.run_program([Field(script)] + argv[2:], node, env, background)
        if base == "systemctl":
            return None
        if base == "crontab" and len(argv) > 1 and argv[-1].known and not argv[-1].text.startswith("-"):
            self.add_write(BootWrite("crontab", "copy", argv[-1].text, None, env.chain, tuple(env.conds),
                                     self.confidence(env)))
            return None
        lookup = (root + name if name.startswith("/") else name) if root else name
        path = self.lookup_program(lookup, env)
        if path is None:
            dangling = self._dangling(name, env) if "/" not in name else None
            resolved = posixpath.normpath(posixpath.join(env.cwd, lookup)) if "/" in lookup else dangling
            storage = self.fs.storage_of(self.fs.resolve(resolved)) if resolved else None
            if "/" in name or dangling or storage is not None:
                reason = "not in the image" if not dangling else f"{dangling} points to a file that is not in the image"
                self.add_missing(env, name, argv, reason, path=resolved, storage=storage.target if storage else None)
            elif base not in BUILTINS:
                self.add_missing(env, name, argv, "no such program on PATH in the image", path=None, quiet=True)
            return None
        content = self.fs.content_path(path)
        if follow_scripts and not self.fs.is_elf(path) and self._is_shell_script(content):
            return self._run_child_script(path, argv, env, background, user, user_source, how)
        applets = self.fs.applets(path)
        if applets:
            applet = base
            if applet not in applets:
                if base.startswith("busybox"):
                    applet = None
                else:
                    self.add_missing(env, name, argv, f"{content} has no '{base}' applet compiled in", path=path)
                    return None
            return self._record_applet(path, applet, argv[1:], node, env, background, how, user, user_source,
                                       command=name, interactive=interactive)
        if base in SHELLS and env.stdin_fed and len(argv) == 1:
            return None  # reads a generated script from a pipe or file
        self.record(env, name=base, command=name, path=path, argv=argv[1:], how=how, user=user,
                    user_source=user_source, background=background)
        return None

    def _hup_init(self, argv: list[Field]) -> bool:
        texts = [a.text for a in argv[1:]]
        return bool(texts) and texts[-1] == "1" and any(t in ("-HUP", "-1", "-SIGHUP", "-s HUP") for t in texts[:-1]) or \
            texts[-2:] == ["HUP", "1"]

    def _is_shell_script(self, path: str) -> bool:
        text = self.fs.read_text(path)
        if text is None:
            return False
        first = text.split("\n", 1)[0]
        if first.startswith("#!"):
            interpreter = first[2:].strip().split()
            if not interpreter:
                return True
            prog = posixpath.basename(interpreter[0])
            if prog == "env" and len(interpreter) > 1:
                prog = interpreter[1]
            return prog in SHELLS or prog == "busybox"
        return True  # no #!: the shell runs it

    def _shebang_rc_common(self, path: str) -> bool:
        text = self.fs.read_text(path) or ""
        return text.startswith("#!") and "/etc/rc.common" in text.split("\n", 1)[0]

    def _run_child_script(self, path: str, argv: list[Field], env: Env, background: bool, user: str,
                          user_source: str | None, how: str):
        if any(step.file == self.fs.content_path(path) for step in env.chain[:-1]):
            self.notes.append(f"{path}: runs itself again at {env.chain[-1]}; not followed twice")
            return None
        child = self.new_env(path, env.chain, env.conds, argv[1:], parent=env)
        child.user, child.user_source = user, user_source
        child.how = how if how != "inittab" or env.action is not None else "rc-script"
        child.depth = env.depth + 1
        child.script_name = argv[0].text
        child.service = env.service
        if background:
            child.how = how if how in ("launcher", "procd", "systemd", "inittab", "cron", "inetd", "login-program",
                                       "runit", "upstart") else "rc-script"
        if self._shebang_rc_common(self.fs.content_path(path)):
            self.run_rc_common(path, argv[1:], child)
        else:
            self.run_script(path, child)
        return None

    def run_rc_common(self, path: str, args: list[Field], env: Env) -> None:
        """An OpenWrt init script: its body defines functions, then rc.common calls the action."""
        action = args[0].text if args else "start"
        env.positional = list(args[1:])
        self.run_script(path, env)
        use_procd = env.vars.get("USE_PROCD")
        procd = use_procd is not None and use_procd.value == "1"
        order = {"boot": ["boot", "start"], "start": ["start"], "restart": ["start"], "enable": []}.get(action, [action])
        for function in order:
            if function in env.functions:
                self.call_function(function, list(args[1:]), env)
                return
            if function == "start" and procd and "start_service" in env.functions:
                self.call_function("start_service", list(args[1:]), env)
                return

    def _run_shell(self, argv, node, env, background, user, user_source, how):
        args = argv[1:]
        command = None
        script = None
        i = 0
        while i < len(args):
            text = args[i].text
            if text == "-c" and i + 1 < len(args):
                command = args[i + 1]
                break
            if text.startswith("-") and text not in ("-", "--"):
                i += 1
                continue
            script = args[i]
            break
        if command is not None:
            if not command.known:
                self.add_missing(env, argv[0].text, argv, "sh -c with a command the image does not settle")
                return None
            return self._run_string(command.text, env, user=user, user_source=user_source, background=background)
        if script is None:
            return self.run_program(list(argv), node, env, background, follow_scripts=False, interactive=True)
        if not script.known:
            self.add_missing(env, script.text, argv, "script path not settled by the image")
            return None
        path = posixpath.normpath(posixpath.join(env.cwd, script.text))
        if not self.fs.is_file(path):
            storage = self.fs.storage_of(self.fs.resolve(path))
            self.add_missing(env, script.text, argv, "script not in the image", path=path,
                             storage=storage.target if storage else None)
            return None
        rest = args[args.index(script):]
        return self._run_child_script(path, [Field(path)] + rest[1:], env, background, user, user_source, how)

    def _run_string(self, text: str, env: Env, user: str, user_source: str | None, background: bool):
        script = self.parse_string(text)
        if script is None:
            return None
        saved = (env.user, env.user_source)
        env.user, env.user_source = user, user_source
        try:
            for item in script.body.items:
                self.exec_andor(item.node, env, background=background or item.background)
        finally:
            env.user, env.user_source = saved
        return None

    def _run_parts(self, argv, node, env):
        dirs = [a.text for a in argv[1:] if not a.text.startswith("-") and a.known]
        if not dirs:
            return None
        directory = dirs[-1]
        for name in self.fs.listdir(directory, env.cwd):
            path = posixpath.join(directory, name)
            if re.fullmatch(r"[A-Za-z0-9_-]+", name) and self.fs.is_executable(path, env.cwd):
                self.run_program([Field(path)], node, env, background=False)
        return True

    def _record_applet(self, binary, applet, args, node, env, background, how, user, user_source, command=None,
                       interactive=False):
        if applet is None:
            return None
        applets = self.fs.applets(binary)
        if applets and applet not in applets:
            self.add_missing(env, command or applet, [Field(command or applet)] + list(args),
                             f"{self.fs.content_path(binary)} has no '{applet}' applet compiled in", path=binary)
            return None
        if applet in SHELLS and env.stdin_fed and not any(a.text == "-c" or not a.text.startswith("-") for a in args):
            return None  # a shell reading commands from a pipe or file the script generates, not a terminal
        if applet in SHELLS and args and not interactive:
            return self._run_shell([Field(applet)] + list(args), node, env, background, user, user_source, how)
        if applet in ONE_SHOT:
            self.one_shot(applet, [Field(applet)] + list(args), node, env)
            return None
        self.record(env, name=applet, command=command or f"{binary} {applet}", path=binary, argv=list(args), how=how,
                    user=user, user_source=user_source, background=background, applet=applet)
        return None

    def record(self, env: Env, *, name: str, command: str, path: str, argv: list[Field], how: str, user: str,
               user_source: str | None, background: bool, applet: str | None = None, tty: str | None = None,
               action: str | None = None, login_shell: bool = False, service: str | None = None,
               started_by: str | None = None, evidence: str | None = None, confidence: str | None = None,
               chain: tuple[Step, ...] | None = None, conditions: tuple[Condition, ...] | None = None,
               respawn: bool | None = None) -> StartedProgram | None:
        chain = chain if chain is not None else env.chain
        conds = conditions if conditions is not None else tuple(env.conds)
        real = self.fs.content_path(path)
        storage = self.fs.storage_of(self.fs.resolve(path)) or self.fs.storage_of(real)
        if evidence is None and chain and chain[-1].line is None and env.how == "binary-strings":
            evidence = chain[-1].text
        program = StartedProgram(
            name=name, command=command, path=real,
            argv=tuple(a.text.replace("${__format_argument}", "%s") for a in argv),
            argv_source=tuple(a.raw or a.text for a in argv),
            argv_defined=tuple("; ".join(a.defined) for a in argv) if any(a.defined for a in argv) else (),
            user=user, how=how,
            confidence=confidence or (env.confidence if env.confidence != "confirmed" else
                                      ("conditional" if conds else "confirmed")),
            chain=chain, conditions=conds, applet=applet, background=background,
            respawn=env.respawn if respawn is None else respawn, from_writable=storage is not None,
            storage=storage.target if storage else None, tty=tty, action=action, login_shell=login_shell,
            service=service or env.service, started_by=started_by or env.started_by, launched_by=env.launched_by, evidence=evidence,
            user_source=user_source, )
        if tty is None and env.action is not None:
            program = replace(program, tty=env.tty, action=env.action, login_shell=env.login_shell)
        if env.respawn and program.how == "rc-script":
            program = replace(program, how="respawn-loop")
        key = (program.path, program.applet, program.argv, chain[-1] if chain else None, program.conditions)
        if key in self._seen_programs:
            return None
        self._seen_programs.add(key)
        self.programs.append(program)
        self.after_start(program, argv, env)
        return program

    def add_missing(self, env: Env, command: str, argv: list[Field], reason: str, path: str | None = None,
                    storage: str | None = None, quiet: bool = False) -> None:
        if quiet:
            return
        if env.confidence in ("possible", "name-only") and storage is None and "points to a file" not in reason:
            return  # a string in a binary that names nothing in the image: no evidence of a start
        if path and self.fs.is_dir(path):
            return
        key = (command, env.chain[-1] if env.chain else None)
        if key in self._seen_missing:
            return
        self._seen_missing.add(key)
        self.missing.append(MissingProgram(command=command, argv=tuple(a.text for a in argv[1:]), chain=env.chain,
                                           conditions=tuple(env.conds), confidence=self.confidence(env),
                                           reason=reason, from_writable=storage is not None, storage=storage,
                                           path=path))

    # -- one-shot commands with effects on the tree --------------------------------------------------
    def one_shot(self, base: str, argv: list[Field], node: sh.Simple, env: Env) -> None:
        args = argv[1:]
        texts = [a.text for a in args]
        known = all(a.known for a in args)
        if base == "ln":
            operands = [a for a in args if not a.text.startswith("-")]
            if len(operands) >= 2 and all(a.known for a in operands):
                *sources, dest = [a.text for a in operands]
                dest_dir = dest.endswith("/") or self.fs.is_dir(dest, env.cwd) or len(sources) > 1
                for source in sources[:256]:
                    link = posixpath.join(dest, posixpath.basename(source)) if dest_dir else dest
                    link = posixpath.normpath(posixpath.join(env.cwd, link))
                    self.fs.add_link(link, source)
                    self.add_write(BootWrite(link, "link", source, None, env.chain, tuple(env.conds),
                                             self.confidence(env)))
        elif base in ("cp", "mv"):
            recursive = any(t.startswith("-") and ("r" in t or "R" in t or "a" in t) for t in texts)
            operands = [a for a in args if not a.text.startswith("-")]
            if len(operands) >= 2 and operands[-1].known:
                dest = operands[-1].text
                sources = operands[:-1]
                dest_is_dir = dest.endswith("/") or self.fs.is_dir(dest, env.cwd) or len(sources) > 1
                for source in sources[:256]:
                    if not source.known:
                        self.add_write(BootWrite(dest, "copy", source.text, None, env.chain, tuple(env.conds),
                                                 self.confidence(env)))
                        continue
                    src = posixpath.normpath(posixpath.join(env.cwd, source.text))
                    target = posixpath.join(dest, posixpath.basename(src)) if dest_is_dir else dest
                    target = posixpath.normpath(posixpath.join(env.cwd, target))
                    is_tree = self.fs.is_dir(src)
                    if is_tree and not recursive:
                        continue
                    self.fs.add_copy(target, src, tree=is_tree)
                    self.add_write(BootWrite(target, "copy-tree" if is_tree else ("move" if base == "mv" else "copy"),
                                             src, None, env.chain, tuple(env.conds), self.confidence(env)))
        elif base == "rm":
            for a in args:
                if a.known and not a.text.startswith("-"):
                    self.fs.remove(posixpath.normpath(posixpath.join(env.cwd, a.text)))
        elif base == "touch":
            for a in args:
                if a.known and not a.text.startswith("-"):
                    path = posixpath.normpath(posixpath.join(env.cwd, a.text))
                    if not self.fs.exists(path):
                        self.fs.write(path, Chunk("", True, env.chain, tuple(env.conds)), append=True)
        elif base == "mount":
            self._mount(args, env)
        elif base == "tar":
            self._tar(args, env)

    def _mount(self, args: list[Field], env: Env) -> None:
        if any(re.fullmatch(r"-[fnrvw]*a[fnrvw]*", a.text) for a in args):
            self.mount_fstab(env)  # mount -a: every fstab entry not marked noauto
            return
        fstype = _opt_value(args, "-t")
        options = _opt_value(args, "-o") or ""
        operands = [a for a in args if not a.text.startswith("-") and a.text not in (fstype, options)]
        if not operands or not all(a.known for a in operands):
            return
        if len(operands) == 1:
            target = operands[0].text
            source = None
        else:
            source, target = operands[0].text, operands[-1].text
        if fstype is None and len(operands) == 1 and target == "-a":
            return
        if target.startswith("-"):
            return
        if len(operands) == 1 and fstype is None:
            fstab = self._fstab().get(target)
            if fstab:
                source, fstype, options = fstab
        target = posixpath.normpath(posixpath.join(env.cwd, target))
        mount = self.fs.add_mount(target, fstype, options, source)
        self.mounts.append(BootMount(target, source, fstype, options or None, mount.writable, mount.removable,
                                     env.chain, tuple(env.conds)))

    def _fstab(self) -> dict[str, tuple[str, str, str]]:
        out = {}
        for line in (self.fs.read_text("/etc/fstab") or "").splitlines():
            parts = line.split()
            if len(parts) >= 3 and not parts[0].startswith("#"):
                out[parts[1]] = (parts[0], parts[2], parts[3] if len(parts) > 3 else "")
        return out

    def mount_fstab(self, env: Env) -> None:
        for target, (source, fstype, options) in self._fstab().items():
            if fstype in ("proc", "sysfs", "devpts", "tmpfs", "ramfs", "swap", "usbfs", "debugfs") or "noauto" in options:
                continue
            mount = self.fs.add_mount(target, fstype, options, source)
            self.mounts.append(BootMount(target, source, fstype, options or None, mount.writable, mount.removable,
                                         env.chain, tuple(env.conds)))

    def _tar(self, args: list[Field], env: Env) -> None:
        flags = args[0].text if args else ""
        if not any(x in flags for x in "x") or not all(a.known for a in args):
            return
        archive = _opt_value(args, "-f")
        operands = [a.text for a in args[1:] if not a.text.startswith("-")]
        if archive is None and "f" in flags.lstrip("-") and operands:
            archive = operands[0]
        dest = _opt_value(args, "-C") or env.cwd
        if archive:
            self.add_write(BootWrite(dest, "extract", posixpath.normpath(posixpath.join(env.cwd, archive)), None,
                                     env.chain, tuple(env.conds), self.confidence(env)))

    # -- what a started program brings with it ------------------------------------------------------
    def after_start(self, program: StartedProgram, argv: list[Field], env: Env) -> None:
        name = program.name
        if name in INETDS or name == "xinetd":
            self.walk_inetd(program, env)
        elif name in ("tcpsvd", "udpsvd"):
            rest = _skip_opts(list(argv), {"-c", "-C", "-b", "-u", "-l", "-t"})
            user = _opt_value(list(argv), "-u")
            if len(rest) > 2:
                self._launched(program, rest[2:], env, how="tcpsvd", user=(user or "root").split(":")[0])
        elif name in ("runsvdir", "runsv"):
            operands = [a for a in program.argv if not a.startswith("-")]
            if operands:
                folder = operands[0].rstrip("/")
                services = [posixpath.join(folder, n) for n in self.fs.listdir(folder)] if name == "runsvdir" else [folder]
                for service in services:
                    run = posixpath.join(service, "run")
                    if self.fs.is_file(run):
                        self._launched(program, [Field(run)], env, how="runit", service=posixpath.basename(service))
        elif name in ("crond", "cron"):
            directory = _opt_value(list(argv), "-c")
            self.crontab_dirs.append((directory or "", self._child_of(program, env)))
        elif name in ("telnetd", "utelnetd", "getty", "agetty", "mingetty", "login", "dropbear"):
            login = _opt_value(list(argv), "-l")
            if login and login.startswith("/") and name != "login":
                self._launched(program, [Field(login)], env, how="login-program")

    def _child_of(self, program: StartedProgram, env: Env) -> Env:
        child = self.new_env(program.path, program.chain, list(program.conditions), [], parent=env)
        child.started_by = program.path
        child.launched_by = program.name
        child.confidence = program.confidence if program.confidence in ("possible", "name-only") else env.confidence
        return child

    def _launched(self, program: StartedProgram, argv: list[Field], env: Env, how: str, user: str | None = None,
                  service: str | None = None, chain: tuple[Step, ...] | None = None,
                  conds: tuple[Condition, ...] = ()) -> None:
        child = self._child_of(program, env)
        child.how = how
        child.respawn = False
        child.service = service
        child.user = user or program.user
        child.user_source = "started by " + program.name if user else program.user_source
        if chain is not None:
            child.chain = chain
        child.conds = list(program.conditions) + list(conds)
        child.depth = env.depth + 1
        fake = sh.Simple(program.chain[-1].line or 0, text=" ".join(a.text for a in argv))
        self.run_program(argv, fake, child, background=True)

    def walk_inetd(self, program: StartedProgram, env: Env) -> None:
        args = [a for a in program.argv]
        if program.name == "xinetd":
            conf = None
            for i, a in enumerate(args):
                if a == "-f" and i + 1 < len(args):
                    conf = args[i + 1]
            self._walk_xinetd(program, conf or "/etc/xinetd.conf", env)
            return
        operands = [a for i, a in enumerate(args) if not a.startswith("-") and not (i and args[i - 1] in ("-q", "-R"))]
        conf = operands[-1] if operands else "/etc/inetd.conf"
        real = self.fs.content_path(conf)
        text = self.fs.read_text(conf)
        if text is None:
            self.notes.append(f"{program.name} started at {program.where} reads {conf}, which is not in the image")
            return
        generated = self.fs.generated.get(real)
        for service in parse_inetd(text):
            conds: tuple[Condition, ...] = ()
            chain: tuple[Step, ...] = program.chain + (Step(real, service.line, service.text),)
            if generated is not None:
                chunk = _chunk_at(generated, service.line)
                if chunk is not None:
                    conds = tuple(c for c in chunk.conditions if c not in program.conditions)
                    chain = program.chain + tuple(chunk.chain[-1:]) + (Step(real, service.line, service.text),)
            argv = [Field(service.server)] + [Field(a) for a in service.argv]
            if posixpath.basename(service.server) == "tcpd" and service.name:
                argv = [Field(service.name)] + [Field(a) for a in service.argv]
            elif service.name and posixpath.basename(service.server).startswith("busybox"):
                argv = [Field(service.server), Field(service.name)] + [Field(a) for a in service.argv]
            self._launched(program, argv, env, how="inetd", user=service.user, service=service.service, chain=chain,
                           conds=conds)

    def _walk_xinetd(self, program: StartedProgram, conf: str, env: Env) -> None:
        files = [conf]
        seen = set()
        while files:
            path = files.pop(0)
            if path in seen:
                continue
            seen.add(path)
            text = self.fs.read_text(path)
            if text is None:
                continue
            services, includes = parse_xinetd(text)
            for directory in includes:
                files.extend(posixpath.join(directory, n) for n in self.fs.listdir(directory)
                             if not n.endswith("~") and "." not in n)
            for service in services:
                settings = service.settings
                if settings.get("disable", (0, "no"))[1].lower() == "yes" or "server" not in settings:
                    continue
                line, server = settings["server"]
                args = settings.get("server_args", (0, ""))[1].split()
                user = settings.get("user", (0, "root"))[1]
                chain = program.chain + (Step(self.fs.content_path(path), line, f"service {service.service}"),)
                self._launched(program, [Field(server)] + [Field(a) for a in args], env, how="xinetd", user=user,
                               service=service.service, chain=chain)

    def walk_cron(self, env: Env) -> None:
        for directory, child in self.crontab_dirs:
            dirs = [directory] if directory else ["/var/spool/cron/crontabs", "/etc/crontabs"]
            files: list[tuple[str, bool]] = []
            for d in dirs:
                files.extend((posixpath.join(d, n), False) for n in self.fs.listdir(d))
            if not directory:
                files.append(("/etc/crontab", True))
                files.extend((posixpath.join("/etc/cron.d", n), True) for n in self.fs.listdir("/etc/cron.d"))
            for path, with_user in files:
                text = self.fs.read_text(path)
                if text is None:
                    continue
                owner = posixpath.basename(path) if not with_user else None
                for job in parse_crontab(text, with_user):
                    job_env = self.new_env(child.file, child.chain + (Step(self.fs.content_path(path), job.line,
                                                                             job.command[:200]),),
                                           child.conds, parent=child)
                    job_env.how = "cron"
                    job_env.service = job.schedule
                    job_env.started_by = child.started_by
                    job_env.launched_by = child.launched_by
                    job_env.user = job.user or owner or "root"
                    job_env.user_source = "crontab"
                    job_env.confidence = child.confidence
                    self._run_string(job.command, job_env, user=job_env.user, user_source="crontab", background=True)


# Commands whose output is their input file, filtered: a redirect of it writes a rendering of that file.
_FILTERS = frozenset({"cat", "sed", "awk", "grep", "egrep", "fgrep", "tr", "cut", "sort", "uniq", "head", "tail",
                      "envsubst", "m4"})
OPENWRT_HELPERS = frozenset({"append", "uci_get"})
_WRAPPERS = frozenset({"nohup", "setsid", "nice", "ionice", "chrt", "taskset", "timeout", "flock", "env", "chpst",
                       "setuidgid", "start-stop-daemon", "su", "chroot", "stdbuf", "time"})
SWITCH_KINDS = frozenset({"uci", "nvram", "uboot-env", "kernel-cmdline", "config"})


class _Scope:
    """What word expansion sees of the walk: variables, positional parameters, command substitution."""

    def __init__(self, walker: Walker, env: Env) -> None:
        self.walker = walker
        self.env = env
        self.positional = env.positional
        self.script_name = env.script_name
        self.last_command = env.status_of or env.last_command

    def lookup(self, name: str) -> Var | None:
        return self.env.vars.get(name)

    def assign(self, name: str, var: Var) -> None:
        self.env.vars[name] = var

    @property
    def last_kinds(self) -> frozenset[str]:
        return _text_kinds(self.last_command)

    def substitute(self, inner: str, raw: str) -> Seg:
        return self.walker.substitute(inner, raw, self.env)


class _TestEval:
    """test / [ ... ]: True or False when the image settles it, None otherwise."""

    def __init__(self, walker: Walker, env: Env, args: list[Field], use_defaults: bool) -> None:
        self.walker, self.env, self.args, self.defaults = walker, env, args, use_defaults
        self.i = 0

    def run(self) -> bool | None:
        if not self.args:
            return False
        result = self.or_expr()
        return result if self.i >= len(self.args) else None

    def peek(self) -> str | None:
        return self.args[self.i].text if self.i < len(self.args) else None

    def or_expr(self):
        left = self.and_expr()
        while self.peek() in ("-o", "||"):
            self.i += 1
            right = self.and_expr()
            left = True if left is True or right is True else (None if left is None or right is None else False)
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.peek() in ("-a", "&&"):
            self.i += 1
            right = self.not_expr()
            left = False if left is False or right is False else (None if left is None or right is None else True)
        return left

    def not_expr(self):
        if self.peek() == "!":
            self.i += 1
            value = self.not_expr()
            return None if value is None else not value
        return self.primary()

    def primary(self):
        args, i = self.args, self.i
        if self.peek() == "(":
            self.i += 1
            value = self.or_expr()
            if self.peek() == ")":
                self.i += 1
            return value
        remaining = len(args) - i
        if remaining >= 3 and args[i + 1].text in ("=", "==", "!=", "<", ">", "-eq", "-ne", "-gt", "-ge", "-lt", "-le"):
            left, op, right = args[i], args[i + 1].text, args[i + 2]
            self.i += 3
            if not (left.settled(self.defaults) and right.settled(self.defaults)):
                return None
            a, b = left.text, right.text
            if op in ("=", "=="):
                return a == b
            if op == "!=":
                return a != b
            if op in ("<", ">"):
                return a < b if op == "<" else a > b
            try:
                x, y = int(a.strip()), int(b.strip())
            except ValueError:
                return None
            return {"-eq": x == y, "-ne": x != y, "-gt": x > y, "-ge": x >= y, "-lt": x < y, "-le": x <= y}[op]
        if remaining >= 2 and args[i].text.startswith("-") and len(args[i].text) == 2:
            op, operand = args[i].text, args[i + 1]
            self.i += 2
            if op in ("-z", "-n"):
                if not operand.settled(self.defaults):
                    return None
                return (operand.text == "") == (op == "-z")
            if not operand.known:
                return None
            return self.walker.file_test(op, operand.text, self.env)
        self.i += 1
        operand = args[i]
        if not operand.settled(self.defaults):
            return None
        return operand.text != ""


def _switch_default(default: bool | None, kinds, sources) -> bool | None:
    """A condition's default holds only when it reads a switch whose default the image ships (a sourced
    configuration, UCI, nvram or U-Boot defaults, the kernel command line); a variable no script on the path
    sets, or one assigned on one side of an earlier branch, gives no default."""
    if default is None or not set(kinds) & SWITCH_KINDS:
        return None
    if any(s.endswith(UNSET) or SET_IN_BRANCH in s for s in sources):
        return None
    return default


def _is_assignment_only(item: sh.Item) -> bool:
    node = item.node
    if node.rest or len(node.first.commands) != 1:
        return False
    command = node.first.commands[0]
    return isinstance(command, sh.Simple) and bool(command.assigns) and not command.words


def _simples(node):
    if isinstance(node, sh.Seq):
        for item in node.items:
            yield from _simples(item.node)
    elif isinstance(node, sh.AndOr):
        yield from _simples(node.first)
        for _, pipe in node.rest:
            yield from _simples(pipe)
    elif isinstance(node, sh.Pipeline):
        for command in node.commands:
            yield from _simples(command)
    elif isinstance(node, sh.Simple):
        yield node
    elif isinstance(node, sh.Group):
        yield from _simples(node.body)


def _command_kinds(simple: sh.Simple, fields: list[Field]) -> set[str]:
    return set(_text_kinds(simple.text))


def _text_kinds(text: str) -> frozenset[str]:
    kinds = set()
    if re.search(r"\bfw_(?:print|get)env\b|\bgetenv\b|\bubootenv\b", text):
        kinds.add("uboot-env")
    if re.search(r"\bnvram\b|\bnvram_get\b|\bflash get\b|\bcfm get\b", text):
        kinds.add("nvram")
    if "/proc/cmdline" in text:
        kinds.add("kernel-cmdline")
    if re.search(r"\buci\b", text):
        kinds.add("uci")
    if re.search(r"factory|reset_?default|restore_?default|first_?boot|firstboot", text, re.I):
        kinds.add("factory-default")
    return frozenset(kinds)


def _is_forever(node: sh.Loop) -> bool:
    simples = list(_simples(node.cond))
    if node.kind != "while" or len(simples) != 1:
        return False
    words = [w.raw for w in simples[0].words]
    return words in (["true"], [":"], ["/bin/true"], ["[", "1", "]"], ["[", "1", "-eq", "1", "]"], ["test", "1"])


def _case_pattern(field_: Field) -> str:
    return field_.text


def _ident(name: str) -> str:
    special = {".": "dot", ":": "colon", "[": "lbracket", "[[": "dlbracket"}
    if name in special:
        return special[name]
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _skip_opts(args: list[Field], with_value: set[str]) -> list[Field]:
    i = 0
    while i < len(args) and args[i].text.startswith("-") and args[i].text != "--":
        opt = args[i].text
        i += 1
        if opt in with_value:
            i += 1
    if i < len(args) and args[i].text == "--":
        i += 1
    return args[i:]


def _opt_value(args, name: str) -> str | None:
    for i, arg in enumerate(args):
        text = arg.text if isinstance(arg, Field) else arg
        if text == name and i + 1 < len(args):
            nxt = args[i + 1]
            return nxt.text if isinstance(nxt, Field) else nxt
        if name.startswith("--") and text.startswith(name + "="):
            return text.split("=", 1)[1]
    return None


def _start_stop_daemon(opts: list[Field]) -> tuple[Field, list[Field], str | None, bool] | None:
    exe: Field | None = None
    startas: Field | None = None
    user = None
    background = False
    args: list[Field] = []
    start = False
    i = 0
    while i < len(opts):
        opt = opts[i].text
        if opt in ("-K", "--stop", "-T", "--status"):
            return None
        if opt in ("-S", "--start"):
            start = True
        elif opt == "--":
            args = opts[i + 1:]
            break
        elif opt in ("-x", "--exec") and i + 1 < len(opts):
            exe = opts[i + 1]
            i += 1
        elif opt in ("-a", "--startas") and i + 1 < len(opts):
            startas = opts[i + 1]
            i += 1
        elif opt in ("-c", "--chuid", "-u", "--user") and i + 1 < len(opts):
            if opt in ("-c", "--chuid"):
                user = opts[i + 1].text
            i += 1
        elif opt in ("-b", "--background"):
            background = True
        elif opt in ("-n", "--name", "-p", "--pidfile", "-N", "--nicelevel", "-s", "--signal", "-r", "--chroot",
                     "-d", "--chdir", "-g", "--group", "-k", "--umask", "-R", "--retry"):
            i += 1
        elif opt.startswith("--exec="):
            exe = Field(opt.split("=", 1)[1])
        elif opt.startswith("--startas="):
            startas = Field(opt.split("=", 1)[1])
        elif opt.startswith("-") and len(opt) > 2 and not opt.startswith("--"):
            for ch in opt[1:]:
                if ch == "S":
                    start = True
                elif ch == "b":
                    background = True
                elif ch == "K":
                    return None
        i += 1
    program = startas or exe
    if program is None or not start and not exe:
        return None
    return program, list(args), user, background


def _chunk_at(generated, line: int):
    """The chunk of a generated file that holds a given line number."""
    count = 0
    for chunk in generated.chunks:
        count += chunk.text.count("\n") or (1 if chunk.text else 0)
        if count >= line:
            return chunk
    return None


def inittab_command(process: str) -> list[str]:
    try:
        return shlex.split(process)
    except ValueError:
        return process.split()
