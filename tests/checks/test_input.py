"""Input validation in web handlers: taint from request data to command sinks (sh, Lua, PHP) and ELF CGIs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from surface_helpers import make_tree, run

from iotcop.checks.input.web_handlers import (
    LUA,
    PHP,
    SH,
    CgiBinaries,
    ScriptInjection,
    tainted_sinks,
)

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}

VULNERABLE = {
    "www/cgi-bin/ping.cgi": (
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n"
        "host=$(echo \"$QUERY_STRING\" | sed -n 's/^.*host=\\([^&]*\\).*$/\\1/p')\n"
        "eval \"ping -c 1 $host\"\n"
    ),
    "www/cgi-bin/env.cgi": "#!/bin/sh\neval $(echo \"$QUERY_STRING\" | tr '&' ';')\n",
    "usr/lib/lua/luci/controller/diag.lua": (
        "module('luci.controller.diag', package.seeall)\nfunction action_ping()\n"
        "  local addr = luci.http.formvalue('addr')\n  local cmd = 'ping -c 4 ' .. addr\n"
        "  local f = io.popen(cmd .. ' 2>&1')\n  luci.http.write(f:read('*a'))\nend\n"
    ),
    "var/www/tools.php": "<?php\n$ip = $_GET['ip'];\n$out = shell_exec(\"traceroute \" . $ip);\necho $out;\nsystem('nslookup ' . $_POST['name']);\n?>\n",
}

SAFE = {
    "www/cgi-bin/ping.cgi": (
        "#!/bin/sh\nhost=$(echo \"$QUERY_STRING\" | sed -n 's/^.*host=\\([^&]*\\).*$/\\1/p')\n"
        "ping -c 1 \"$host\"\n"  # an argument, not code
        "eval \"$(/usr/bin/defaults)\"\n"  # eval without request data
    ),
    "usr/lib/lua/luci/controller/diag.lua": (
        "local addr = luci.http.formvalue('addr')\nlocal n = tonumber(luci.http.formvalue('count'))\n"
        "local q = luci.util.shellquote(addr)\nluci.sys.call('ping -c ' .. n .. ' ' .. q)\n"
        "addr = '127.0.0.1'\nos.execute('ping ' .. addr)\n"
    ),
    "var/www/tools.php": "<?php\n$ip = escapeshellarg($_GET['ip']);\n$out = shell_exec('traceroute ' . $ip);\nsystem('uptime');\n?>\n",
    "usr/lib/lua/app/cli.lua": "os.execute('reboot')\n",
}


def test_vulnerable_handlers_fire_with_line(tmp_path):
    make_tree(tmp_path, {**BASE, **VULNERABLE})
    result = run(ScriptInjection, tmp_path)
    got = sorted((f.evidence.path, f.evidence.line, f.title) for f in result.findings)
    assert got == [
        ("/usr/lib/lua/luci/controller/diag.lua", 5, "Request data reaches command execution (lua)"),
        ("/var/www/tools.php", 3, "Request data reaches command execution (php)"),
        ("/var/www/tools.php", 5, "Request data reaches command execution (php)"),
        ("/www/cgi-bin/env.cgi", 2, "Request data reaches command execution (sh)"),
        ("/www/cgi-bin/ping.cgi", 5, "Request data reaches command execution (sh)"),
    ]


def test_safe_handlers_are_silent(tmp_path):
    make_tree(tmp_path, {**BASE, **SAFE})
    assert run(ScriptInjection, tmp_path).findings == []


@pytest.mark.parametrize("lang, code, hits", [
    (PHP, "<?php\n$a = $_REQUEST['x'];\n$b = $a;\npassthru($b);\n", [4]),
    (PHP, "<?php\n$a = $_REQUEST['x'];\n$a = 'fixed';\nexec($a);\n", []),
    (LUA, "local v = http.formvalue('v')\nluci.sys.exec('echo ' .. v)\n", [2]),
    (SH, "v=\"$FORM_cmd\"\nsh -c \"$v\"\n", [2]),
    (SH, "v=\"$FORM_cmd\"\nlogger \"$v\"\n", []),
])
def test_taint_rules(lang, code, hits):
    assert [line for line, _, _ in tainted_sinks(code, lang)] == hits


def _cgi(out: Path, body: str) -> None:
    src = out.with_suffix(".c")
    src.write_text("#include <stdlib.h>\n#include <stdio.h>\n#include <string.h>\n" + body)
    subprocess.run(["gcc", "-O0", "-o", str(out), str(src)], check=True, capture_output=True, timeout=60)
    src.unlink()


def test_elf_cgi_candidates(tmp_path):
    root = make_tree(tmp_path, BASE)
    (root / "www/cgi-bin").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    _cgi(root / "www/cgi-bin/admin.cgi", 'int main(void){ char c[256]; char *q = getenv("QUERY_STRING"); sprintf(c, "ping %s", q); return system(c); }\n')
    _cgi(root / "www/cgi-bin/info.cgi", 'int main(void){ char b[64]; strcpy(b, getenv("QUERY_STRING")); puts(b); return 0; }\n')
    _cgi(root / "www/cgi-bin/static.cgi", 'int main(void){ puts("Content-Type: text/plain\\n\\nhello"); return system("uptime"); }\n')
    _cgi(root / "usr/bin/tool", 'int main(void){ char c[64]; sprintf(c, "%s", getenv("QUERY_STRING")); return system(c); }\n')
    found = {f.title.split(" (")[0]: f for f in run(CgiBinaries, root).findings}
    assert set(found) == {"CGI programs read request data and run commands", "CGI programs read request data and use unbounded string functions"}
    assert found["CGI programs read request data and run commands"].evidence.detail == "review for command injection: /www/cgi-bin/admin.cgi (system)"
    unsafe = found["CGI programs read request data and use unbounded string functions"].evidence.detail
    assert "/www/cgi-bin/info.cgi (strcpy)" in unsafe and "static.cgi" not in unsafe and "/usr/bin/tool" not in unsafe
    # A candidate list: 5.13-1 becomes INCONCLUSIVE for review, not FAIL.
    assert {f.confidence for f in found.values()} == {"possible"}
