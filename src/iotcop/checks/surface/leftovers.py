"""Files the build left behind: backup copies of configurations, shell history, editor and version-control
debris, setup scripts at the root of the file system."""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from iotcop.boot import BOOT_MODEL
from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, is_reference_material, is_shell_script, logical_path, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

_BACKUP = re.compile(r"^(?P<base>.+?)(?:\.bak\d*|\.orig|\.og|\.old|\.save|\.backup|\.bk|~|-)$")
_HISTORY = re.compile(r"^\.(?:ash|bash|sh|zsh|mysql|psql|python|node_repl|lesshst|viminfo)(?:_history)?$|^\.history$")
_DEBRIS = re.compile(r"^\..+\.sw[op]$|^\.DS_Store$|^Thumbs\.db$|^\.gitignore$|^\.cvsignore$")
_VCS_DIRS = ("/.git/", "/.svn/", "/CVS/", "/.hg/")
_SETUP_NAME = re.compile(r"(?i)^(?:setup|install|build|deploy|make|test|debug|flash|mkfs|prepare)[\w.-]*\.sh$")


class LeftoverFiles(Check):
    ID = "surface.leftover-files"
    VERSION = "1.0.0"
    SEVERITY = Severity.low
    TIMEOUT = 60.0
    USES = (TEXT, BOOT_MODEL)
    DOC = CheckDoc(
        title="Build leftovers in the image",
        why=(
            "Backup copies of configuration files, shell history, editor swap files, version-control folders and "
            "setup scripts are not part of the product: they show old settings and credentials, how the image was "
            "built, and sometimes commands with passwords, to everyone who has the image."
        ),
        fix="Build the image from a clean staging tree and strip backups, history, swap files and build scripts.",
        references=("CWE-530: Exposure of Backup File to an Unauthorized Control Sphere",
                    "CWE-540: Inclusion of Sensitive Information in Source Code"),
        limitations=(
            "Backups are files named like a copy (.bak, .orig, .og, .old, .save, name-, name~) of a file in the same "
            "folder, or of an account file, that no script of the image names and that the boot model does not see "
            "copied, linked or extracted (passwd.bak copied to /var/passwd at boot is not a leftover).  "
            "Setup scripts count only at the root of the file system.  What the files hold is judged by the "
            "credential and secret checks."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        scripts = [(e, t) for e, t in text_files(fw) if is_shell_script(e, t) or e.name in ("inittab", "rcS")]
        # files the boot chain copies, links or extracts somewhere are in use, whatever their name
        used = {w.source for w in BOOT_MODEL.of(fw).writes if w.source}
        names = {e.path for e in fw.entries}
        vcs_seen: set[str] = set()
        for entry in fw.files():
            path = entry.path
            if is_reference_material(path):
                continue
            lp = logical_path(path)
            vcs = next((d for d in _VCS_DIRS if d in lp), None)
            if vcs is not None:
                root = lp[: lp.index(vcs) + len(vcs)]
                if root not in vcs_seen:
                    vcs_seen.add(root)
                    yield self._found(entry, f"Version-control folder left in the image ({root})",
                                      f"{root} holds version-control data of the build tree")
                continue
            name = entry.name
            if _HISTORY.match(name):
                yield self._found(entry, f"Shell history left in the image ({name})",
                                  f"{path} records commands typed on a development or test system", Severity.medium)
                continue
            if _DEBRIS.match(name):
                yield self._found(entry, f"Editor or desktop debris left in the image ({name})", f"{path} is build debris")
                continue
            m = _BACKUP.match(name)
            if m and (posixpath.join(posixpath.dirname(path), m.group("base")) in names
                      or m.group("base") in ("passwd", "shadow", "group", "gshadow")):
                if path in used or _named_by(scripts, name):
                    continue
                yield self._found(entry, f"Backup copy of a configuration file ({name})",
                                  f"{path} is a copy of {m.group('base')} that no script of the image uses")
                continue
            if posixpath.dirname(lp) == "/" and _SETUP_NAME.match(name) and not _named_by(scripts, name):
                yield self._found(entry, f"Setup script left at the root of the file system ({name})",
                                  f"{path} is a build or setup script that nothing on the device runs")

    def _found(self, entry, title: str, detail: str, severity: Severity | None = None):
        return self.finding(entry, title=title, detail=detail, severity=severity, confidence="likely")


def _named_by(scripts, name: str) -> bool:
    rx = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])")
    for _, text in scripts:
        if name in text and any(rx.search(line) and not line.lstrip().startswith("#") for line in text.splitlines()):
            return True
    return False
