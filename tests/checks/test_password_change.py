"""authentication.password-change: a web handler that sets a login's password from what the user submits, against
passwords fixed at every start or compared with a literal."""

from __future__ import annotations

from pathlib import Path

from surface_helpers import make_tree, run

from iotcop.checks.authentication.password_change import PasswordChange, fixed_password_checks, password_sets

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}
# a LuCI CBI page in the shape of OpenWrt's own password page (the value comes through the form)
LUCI_PAGE = """m = Map("system", translate("Router Password"))
s = m:section(TypedSection, "_dummy", "")
pw1 = s:option(Value, "pw1", translate("Password"))
pw2 = s:option(Value, "pw2", translate("Confirmation"))
function m.parse(map)
\tlocal v1 = pw1:formvalue("_pass")
\tlocal v2 = pw2:formvalue("_pass")
\tif v1 and v2 and #v1 > 0 and v1 == v2 then
\t\tif luci.sys.user.setpasswd("root", v1) == 0 then
\t\t\tm.message = translate("Password successfully changed!")
\t\tend
\tend
end
return m
"""
CGI_PAGE = """#!/bin/sh
echo "Content-Type: text/plain"
echo
read -n "$CONTENT_LENGTH" POST
NEW=$(echo "$POST" | sed -n 's/^.*new=\\([^&]*\\).*$/\\1/p')
[ -n "$NEW" ] || exit 0
printf '%s\\n%s\\n' "$NEW" "$NEW" | passwd admin >/dev/null 2>&1 && echo ok
"""
FIXED_LOGIN = ('#!/bin/sh\neval "$(echo "$QUERY_STRING" | tr "&" "\\n" | sed "s/^/FORM_/")"\n'
               'if [ "$FORM_password" = "Cam3ra!2019" ]; then echo "Set-Cookie: s=1"; fi\n')
RESET_AT_BOOT = "#!/bin/sh\nmount -a\necho 'admin:Adm1n-2023' | chpasswd\n/usr/sbin/httpd -h /www\n"


def test_luci_password_page_is_a_change_mechanism(tmp_path):
    make_tree(tmp_path, {**BASE, "usr/lib/lua/luci/model/cbi/admin_system/password.lua": LUCI_PAGE})
    result = run(PasswordChange, tmp_path)
    assert result.findings == []
    [proof] = result.compliance
    assert proof.provision == "5.1-4" and "sys.user.setpasswd" in proof.statement
    assert (proof.evidence[0].path, proof.evidence[0].line) == ("/usr/lib/lua/luci/model/cbi/admin_system/password.lua", 9)


def test_cgi_password_page_is_a_change_mechanism(tmp_path):
    make_tree(tmp_path, {**BASE, "www/cgi-bin/password.cgi": CGI_PAGE})
    [proof] = run(PasswordChange, tmp_path).compliance
    assert "/www/cgi-bin/password.cgi:7" in proof.statement and "with passwd" in proof.statement


def test_password_reset_to_a_literal_at_every_start_fails(tmp_path):
    make_tree(tmp_path, {**BASE, "www/cgi-bin/password.cgi": CGI_PAGE, "etc/init.d/rcS": RESET_AT_BOOT,
                         "usr/sbin/httpd": Path("/bin/true").read_bytes()},
              modes={"etc/init.d/rcS": 0o755, "usr/sbin/httpd": 0o755})
    result = run(PasswordChange, tmp_path)
    assert result.compliance == []  # the page exists, but what it sets is undone at the next start
    [f] = result.findings
    assert (f.evidence.path, f.evidence.line, f.provisions) == ("/etc/init.d/rcS", 3, ["5.1-4"])
    assert f.confidence == "likely"


def test_password_fixed_in_the_login_handler_fails(tmp_path):
    make_tree(tmp_path, {**BASE, "www/cgi-bin/login.cgi": FIXED_LOGIN})
    [f] = run(PasswordChange, tmp_path).findings
    assert f.title == "The web login compares the password with a fixed value"
    assert (f.evidence.path, f.evidence.line) == ("/www/cgi-bin/login.cgi", 3)


def test_other_services_passwords_and_first_boot_scripts_say_nothing(tmp_path):
    make_tree(tmp_path, {**BASE,
                         "www/cgi-bin/ddns.cgi": '#!/bin/sh\nread -n "$CONTENT_LENGTH" POST\n'
                                                 'uci set ddns.myddns.password="$POST"\nuci set network.wan.password="$POST"\n',
                         "etc/init.d/rcS": "#!/bin/sh\nuci set wireless.@wifi-iface[0].key=12345678\nnvram set pppoe_passwd=isp123\n",
                         "etc/uci-defaults/10-pw": "#!/bin/sh\necho 'root:Initial1' | chpasswd\n",
                         "usr/lib/lua/luci/sys.lua": "function user.setpasswd(n, e)\n  return os.execute('passwd ' .. n)\nend\n"})
    result = run(PasswordChange, tmp_path)
    assert result.findings == [] and result.compliance == []


def test_setters_and_comparisons_by_language():
    sh = password_sets("echo \"root:$PW\" | chpasswd\nhtpasswd -b /etc/httpd.users admin secret1\n"
                       "nvram set http_passwd=\"$new\"\nflash set USER_PASSWORD $2\npasswd -l guest\n", "/x", "sh")
    assert [(s.how, s.literal) for s in sh] == [("chpasswd", False), ("htpasswd -b", True), ("nvram set http_passwd", False),
                                                ("flash set USER_PASSWORD", False)]
    php = password_sets('<?php exec("echo admin:" . $_POST["pw"] . " | chpasswd"); ?>', "/x.php", "php")
    assert [(s.how, s.literal) for s in php] == [("chpasswd", False)]
    lua = password_sets('x:set("luci", "admin", "password", pw)\nx:set("network", "wan", "password", v)\n', "/x.lua", "lua")
    assert [s.how for s in lua] == ["uci set luci.admin.password"]
    assert [c[2] for c in fixed_password_checks("if password == 'hunter22' then\nif mode == 'manual' then\n", "lua")] == ["password"]
    assert [c[2] for c in fixed_password_checks("if ($_POST['passwd'] === 'letmein1') {", "php")] == ["$_POST['passwd']"]
    assert fixed_password_checks('[ "$PASS_MODE" = "manual" ]\n[ "$password" = "" ]\n', "sh") == []
