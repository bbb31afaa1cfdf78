"""Debug, test and information pages left in the web root."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

WEB_ROOTS = ("/www/", "/var/www/", "/srv/www/", "/usr/www/", "/htdocs/", "/home/httpd/", "/usr/share/www/", "/web/", "/webroot/", "/usr/html/", "/www-data/", "/var/html/")
_WEB_EXT = ("php", "cgi", "html", "htm", "asp", "shtml", "lua", "sh", "pl", "jsp", "")
# Base names (no extension) of pages that exist only for development.
_DEBUG_STEMS = re.compile(r"^(?:phpinfo|info|test|tests|debug|dbg|testing|diag_debug|debug_.*|.*_debug|test_.*|.*_test|backdoor|shell|cmd|webshell|telnet(?:enable)?)$", re.I)
_PHPINFO = re.compile(rb"\bphpinfo\s*\(")


def in_web_root(path: str) -> bool:
    return path.startswith(WEB_ROOTS) or "/cgi-bin/" in path


class DebugWebPages(Check):
    ID = "surface.debug-web-pages"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    DOC = CheckDoc(
        title="Debug or test page in the web root",
        why=(
            "Development pages (phpinfo, test and debug CGIs, shells) answer anyone who can reach the web "
            "server: they reveal versions, paths and settings, and some run commands."
        ),
        fix="Remove development, test and debug pages from production images.",
        references=("CWE-489", "CWE-200"),
        limitations=(
            "Web roots are recognised by common paths (/www, /var/www, cgi-bin ...); a server configured to "
            "serve another folder is not followed.  Pages are judged by name (test, debug, phpinfo ...) and by "
            "a phpinfo() call; a test page with an ordinary name is not found."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry in fw.files():
            if not in_web_root(entry.path):
                continue
            stem, _, ext = entry.name.rpartition(".") if "." in entry.name else (entry.name, "", "")
            if ext.lower() not in _WEB_EXT:
                continue
            data = fw.read_bytes(entry, 256 * 1024) if ext.lower() in ("php", "") or stem.lower() == "info" else None
            if data is not None and _PHPINFO.search(data):
                yield self.finding(entry, title="phpinfo() page in the web root", detail="prints the PHP configuration, paths and environment to any visitor")
            elif _DEBUG_STEMS.match(stem) and stem.lower() != "info":
                yield self.finding(entry, title=f"Debug or test page in the web root ({entry.name})", detail=f"{entry.path} is served by the web server")
