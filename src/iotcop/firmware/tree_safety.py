"""After extraction: neutralise what a hostile image planted, keep the image's modes, make the tree ours.

- device nodes, FIFOs and sockets are removed (opening a FIFO blocks; a device node reads the host);
- symlinks whose target leaves the extraction (on the host) are removed;
- regular files hard-linked to a file outside the extraction are unlinked (reading one would leak a
  host file into the report, writing one would change it);
- entries the extractor itself refused (`..` or absolute paths, links out of the tree, special files)
  are taken from unblob's report;
- every directory becomes u+rwx and every file u+rw without setuid/setgid/sticky bits, so that the
  scanner, root or not, can read and delete its work directory and leaves no setuid file behind.

The modes the image gave (as the extractor wrote them, before unblob widened them) are saved in
MODES_FILE next to the extraction; the inventory reports those, not the normalised ones.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MODES_FILE = "image-modes.json"  # in the work directory: {relative path: [mode, uid, gid]}
_SPECIAL = {stat.S_IFCHR: "device", stat.S_IFBLK: "device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}
# unblob report types for entries an extractor refused to create.
_REFUSED = {
    "PathTraversalProblem": "path-traversal",
    "LinkExtractionProblem": "link-escape",
    "SpecialFileExtractionProblem": "special-file",
    "MaliciousSymlinkRemoved": "symlink-escape",
}
# unblob's generic ExtractionProblem (tar), told apart by its text.
_PROBLEMS = (
    ("traversal attempt through link", "link-escape"),
    ("would escape root", "link-escape"),
    ("traversal attempt", "path-traversal"),
    ("absolute path.", "path-traversal"),
    ("block and character device", "device"),
)
# Where unblob's own extractors (cpio ...) put entries whose path left the extraction.
LOST_AND_FOUND = ".unblob-lost+found"
_SHOWN_LIMIT = 1000  # entries listed in the report; the count is always exact


@dataclass
class TreeSafety:
    neutralised: list[dict] = field(default_factory=list)
    count: int = 0
    modes: dict[str, list[int]] = field(default_factory=dict)

    def add(self, path: str, kind: str, detail: str, action: str) -> None:
        self.count += 1
        if len(self.neutralised) < _SHOWN_LIMIT:
            self.neutralised.append({"path": path, "kind": kind, "detail": detail[:300], "action": action})


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _link_escapes(link: Path, top: str) -> bool:
    """Whether following the link on the host (through any chain of links) leaves top."""
    try:
        resolved = os.path.realpath(link)
    except (OSError, RuntimeError, ValueError):
        return True
    return not _inside(resolved, top)


def load_recorded_modes(lines_file: Path, extract_root: Path) -> dict[str, list[int]]:
    """The child's JSON lines [path, mode, uid, gid]; the first record of a path is the extractor's."""
    modes: dict[str, list[int]] = {}
    try:
        with open(lines_file, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rel, mode, uid, gid = json.loads(line)
                except (ValueError, TypeError):
                    continue  # a line cut short when the child was killed
                if isinstance(rel, str) and all(isinstance(v, int) for v in (mode, uid, gid)):
                    modes.setdefault(rel, [mode, uid, gid])
    except OSError:
        pass
    return modes


def secure_tree(extract_root: Path, recorded: dict[str, list[int]] | None = None) -> TreeSafety:
    """Neutralise and normalise everything under extract_root (never following links)."""
    result = TreeSafety(modes=dict(recorded or {}))
    top = os.path.realpath(extract_root)
    inodes: dict[tuple[int, int], int] = {}
    linked: list[tuple[Path, os.stat_result]] = []
    _fix_dir(extract_root)
    stack = [extract_root]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for item in items:
            path = Path(item.path)
            rel = os.path.relpath(path, extract_root)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = stat.S_IFMT(st.st_mode)
            if kind in _SPECIAL:
                detail = (f"{'char' if kind == stat.S_IFCHR else 'block'} device {os.major(st.st_rdev)}:"
                          f"{os.minor(st.st_rdev)}" if kind in (stat.S_IFCHR, stat.S_IFBLK) else _SPECIAL[kind])
                _remove(path)
                result.add(rel, _SPECIAL[kind], detail, "removed")
                continue
            if kind == stat.S_IFLNK:
                if _link_escapes(path, top):
                    target = _readlink(path)
                    _remove(path)
                    result.add(rel, "symlink-escape", f"-> {target}", "removed")
                continue
            result.modes.setdefault(rel, [st.st_mode, st.st_uid, st.st_gid])
            if kind == stat.S_IFREG and f"/{LOST_AND_FOUND}/" in f"/{rel}":
                result.add(rel, "path-traversal", "an entry whose path left the extraction",
                           f"kept under {LOST_AND_FOUND}")
            if kind == stat.S_IFDIR:
                _fix_dir(path, st)
                stack.append(path)
            elif kind == stat.S_IFREG:
                _fix_file(path, st)
                if st.st_nlink > 1:
                    inodes[(st.st_dev, st.st_ino)] = inodes.get((st.st_dev, st.st_ino), 0) + 1
                    linked.append((path, st))
    for path, st in linked:
        # More links than names inside the tree: one of them lies outside it.
        if st.st_nlink > inodes[(st.st_dev, st.st_ino)]:
            rel = os.path.relpath(path, extract_root)
            _remove(path)
            result.modes.pop(rel, None)
            result.add(rel, "hardlink-escape", f"hard link shared with a file outside the extraction "
                       f"({st.st_nlink} links, {inodes[(st.st_dev, st.st_ino)]} inside)", "removed")
    return result


def refused_entries(tasks: list[dict], result: TreeSafety) -> None:
    """Add what the extractors refused to create, from unblob's JSON report."""
    def walk(reports):
        for report in reports or []:
            yield report
            yield from walk(report.get("extraction_reports"))

    for task in tasks:
        for report in walk(task.get("reports")):
            kind = _REFUSED.get(report.get("__typename__", ""))
            if report.get("__typename__") == "ExtractionProblem":
                text = str(report.get("problem", "")).lower()
                kind = next((k for words, k in _PROBLEMS if words in text), None)
            if kind is None:
                continue
            if kind == "symlink-escape":
                path, detail = str(report.get("link", "")), f"-> {report.get('target', '')}"
            else:
                path = str(report.get("path") or report.get("link_path") or "")
                detail = f"{report.get('problem', '')} {report.get('resolution', '')}".strip()
            action = "removed" if kind == "symlink-escape" else (
                "converted to a path inside the extraction" if "converted" in detail.lower() else "not extracted")
            result.add(path, kind, detail, action)


def save_modes(work_dir: Path, modes: dict[str, list[int]]) -> None:
    tmp = work_dir / (MODES_FILE + ".tmp")
    tmp.write_text(json.dumps(modes, sort_keys=True))
    os.replace(tmp, work_dir / MODES_FILE)


def load_modes(work_dir: Path) -> dict[str, list[int]] | None:
    try:
        data = json.loads((work_dir / MODES_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fix_dir(path: Path, st: os.stat_result | None = None) -> None:
    try:
        st = st or os.lstat(path)
        wanted = (stat.S_IMODE(st.st_mode) | stat.S_IRWXU) & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
        if wanted != stat.S_IMODE(st.st_mode):
            os.chmod(path, wanted)
    except OSError:
        pass


def _fix_file(path: Path, st: os.stat_result) -> None:
    wanted = (stat.S_IMODE(st.st_mode) | stat.S_IRUSR | stat.S_IWUSR) & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
    if wanted != stat.S_IMODE(st.st_mode):
        try:
            os.chmod(path, wanted)
        except OSError:
            pass
