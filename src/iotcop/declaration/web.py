"""Bounded fetching of the public pages a declaration points to (security.txt, policy, support page)."""

from __future__ import annotations

import html
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from iotcop import __version__

MAX_PAGE_BYTES = 2 * 1024 * 1024
Verify = bool | str | Path  # True: system CAs; False: no certificate check; a path: CA bundle to trust


@dataclass
class Page:
    url: str
    final_url: str = ""
    status: int | None = None
    content_type: str = ""
    text: str = ""
    error: str | None = None  # why it could not be read

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


def ssl_context(verify: Verify) -> ssl.SSLContext:
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if verify is True:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(verify))


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 5


def fetch(url: str, *, timeout: float = 10, verify: Verify = True, max_bytes: int = MAX_PAGE_BYTES) -> Page:
    """GET a URL: at most max_bytes, 5 redirects and `timeout` seconds per network operation."""
    page = Page(url=url)
    if not url.lower().startswith(("http://", "https://")):
        page.error = "not an http(s) URL"
        return page
    opener = urllib.request.build_opener(
        _LimitedRedirects(),
        urllib.request.HTTPSHandler(context=ssl_context(verify)),
        urllib.request.ProxyHandler({}),
    )
    request = urllib.request.Request(url, headers={"User-Agent": f"iotcop/{__version__}", "Accept": "text/plain, text/html;q=0.9, */*;q=0.1"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            page.status = resp.status
            page.final_url = resp.geturl()
            page.content_type = resp.headers.get("Content-Type", "")
            body = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        page.status = exc.code
        page.final_url = exc.geturl() or url
        page.error = f"HTTP {exc.code} {exc.reason}"
        return page
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            page.error = f"TLS certificate not trusted ({reason.verify_message})"
        else:
            page.error = f"cannot connect ({reason})"
        return page
    except (TimeoutError, OSError, ValueError) as exc:
        page.error = f"cannot read ({type(exc).__name__}: {exc})"
        return page
    if len(body) > max_bytes:
        page.error = f"larger than {max_bytes // 1024} KiB"
        return page
    charset = "utf-8"
    m = re.search(r"charset=([\w-]+)", page.content_type, re.I)
    if m:
        charset = m.group(1)
    try:
        page.text = body.decode(charset, errors="replace")
    except LookupError:
        page.text = body.decode("utf-8", errors="replace")
    return page


_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_BLOCK = re.compile(r"<\s*(br|p|div|li|tr|h[1-6]|section|article|ul|ol|table)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")


def visible_text(page: Page) -> str:
    """The readable text of a page (HTML tags removed, block elements as line breaks)."""
    text = page.text
    if "html" in page.content_type.lower() or re.search(r"<\s*(html|body|p|div)\b", text[:4096], re.I):
        text = _SCRIPT.sub(" ", text)
        text = _BLOCK.sub("\n", text)
        text = html.unescape(_TAG.sub(" ", text))
    return re.sub(r"[ \t\r\f\v]+", " ", text)
