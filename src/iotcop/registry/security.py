"""Tokens, CSRF tokens, rate limits, request size limits and security headers.

Rate limits are in-process token buckets keyed by client address: each server
process counts on its own, so N processes allow N times the rate.  That is the
documented limit of this simple scheme; put a shared limiter in front for more.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

from iotcop.registry.config import RateLimit

TOKEN_PREFIX = "iotcop_"


# --- API tokens --------------------------------------------------------------------


def new_token() -> str:
    """32 random bytes, URL-safe; shown once, only its sha256 is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(token: str) -> str:
    return token[len(TOKEN_PREFIX):][:8] if token.startswith(TOKEN_PREFIX) else token[:8]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- CSRF (double submit, bound to the server secret) --------------------------------

CSRF_COOKIE = "iotcop_csrf"
CSRF_FIELD = "csrf_token"


def csrf_form_value(secret: bytes, cookie_value: str) -> str:
    """The form field for a cookie value: an HMAC, so a cookie planted by another site cannot be matched."""
    return hmac.new(secret, cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, cookie_value: str | None, form_value: str | None) -> bool:
    if not cookie_value or not form_value or len(cookie_value) > 100 or len(form_value) > 100:
        return False
    return hmac.compare_digest(csrf_form_value(secret, cookie_value), form_value)


# --- rate limits --------------------------------------------------------------------


class TokenBuckets:
    """One bucket per key; a request takes one token; tokens refill at `rate` a second up to `burst`."""

    def __init__(self, limit: RateLimit, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds until a token is available."""
        now = time.monotonic() if now is None else now
        rate, burst = self.limit.rate, self.limit.burst
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._prune(now)
            return (1.0 - tokens) / rate if rate > 0 else 3600.0

    def _prune(self, now: float) -> None:
        # Full buckets carry no state worth keeping.
        rate, burst = self.limit.rate, self.limit.burst
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * rate >= burst:
                del self._buckets[key]


# --- ASGI middleware ------------------------------------------------------------------

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = dict(message, headers=list(message.get("headers", [])) + extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain_response(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies above a size (413) before anything parses them; limits per path prefix."""

    def __init__(self, app, default: int, by_prefix: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_prefix = sorted(by_prefix.items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _plain_response(send, 400, b'{"detail":"invalid Content-Length"}')
                return
            if too_big:
                await _plain_response(send, 413, b'{"detail":"request body too large (limit %d bytes)"}' % limit)
                return
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except BodyTooLarge:  # raised where nothing turned it into an answer
            if not started:
                await _plain_response(send, 413, b'{"detail":"request body too large (limit %d bytes)"}' % limit)


class BodyTooLarge(HTTPException):
    """The body grew past its limit while it was read (a chunked body has no Content-Length to refuse early).

    An HTTPException, so that whatever is reading the body (a form parser, FastAPI's JSON body) lets it
    through to the 413 answer instead of calling the body malformed.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (limit {limit} bytes)")


class PublicOrigin:
    """The app sees the configured public address as its own, whatever Host header a client sent.

    Starlette builds redirects (e.g. a trailing slash) and request.base_url from the Host header and scheme;
    replacing both here means no answer can carry a link to a host an attacker chose.
    """

    def __init__(self, app, public_url: str) -> None:
        parts = urlsplit(public_url)
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("ascii")
        self.server = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"host"] + [(b"host", self.host)]
            scope = dict(scope, scheme=self.scheme, server=self.server, headers=headers)
        await self.app(scope, receive, send)


class RateLimiter:
    """429 with Retry-After once a client address has used its bucket (separate buckets for reads and writes)."""

    def __init__(self, app, read: RateLimit, write: RateLimit, exempt: tuple[str, ...] = ("/static/", "/healthz")):
        self.app = app
        self.read = TokenBuckets(read)
        self.write = TokenBuckets(write)
        self.exempt = exempt

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        writing = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        wait = (self.write if writing else self.read).take(client)
        if wait > 0:
            retry = str(max(1, int(wait + 0.999))).encode()
            await _plain_response(send, 429, b'{"detail":"too many requests"}', [(b"retry-after", retry)])
            return
        await self.app(scope, receive, send)
