"""The crowd's HTTP and WebSocket sessions, speaking only to the ``--url`` origin.

Requests share a bounded pool of keep-alive connections; each fan's socket is a connection
of its own, outside that pool, so thousands of open sockets never leave a request waiting
for a free connection.

Every request goes through :meth:`Api.call`, which never raises for HTTP or network
failures: it returns a :class:`Reply` and counts the failure by the contract's error code
(5xx separately, 429 separately), so a crowd of fans can branch on ``reply.code``."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import aiohttp
import orjson

from .stats import ErrorCounts, Samples

JSON_HEADERS = {"Content-Type": "application/json"}
MAX_ATTEMPTS = 6                    # tries of one request on no answer, 429 or 5xx


class Reply:
    __slots__ = ("status", "data", "code", "details", "retry_after", "elapsed")

    def __init__(self, status: int, data, code: str | None, details: dict, retry_after: float | None,
                 elapsed: float):
        self.status = status
        self.data = data
        self.code = code
        self.details = details
        self.retry_after = retry_after
        self.elapsed = elapsed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth retrying as is: no answer, 429, or a 5xx."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.code or ''})"


class Target:
    """The base URL the user gave, split into the HTTP base and the WebSocket URL. Nothing
    else is ever contacted: paths are appended to it and redirects are not followed."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be http://HOST[:PORT] or https://…, not {url!r}")
        if parts.query or parts.fragment:
            raise ValueError("--url takes no query or fragment")
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws = f"{ws_scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws"
        self.host = parts.netloc
        self.hostname = parts.hostname


class Api:
    def __init__(self, session: aiohttp.ClientSession, ws_session: aiohttp.ClientSession, target: Target,
                 errors: ErrorCounts, timeout: float):
        self.session = session
        self.ws_session = ws_session
        self.target = target
        self.errors = errors
        self.server_errors = 0
        self.rate_limited = 0
        self.requests = 0
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.ws_connect_seconds = Samples()
        # Sockets open at once stay within the open-files limit, the requests' pool beside
        # them: a fan refused one polls instead, as the page does while its socket is down.
        self.socket_budget: int | None = None
        self.sockets_refused = 0
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []
        self._connecting = 0     # sockets being opened: their files are already taken

    def count_failure(self, status: int, code: str) -> None:
        self.errors[code] += 1
        if status >= 500:
            self.server_errors += 1
        elif status == 429:
            self.rate_limited += 1

    async def call(self, method: str, path: str, token: str | None = None, body=None,
                   headers: dict | None = None, count: bool = True,
                   timeout: float | None = None) -> Reply:
        """``count=False`` for probes whose failure is expected (the bulk route's 404); a
        5xx is counted whatever ``count`` says."""
        hdrs = dict(JSON_HEADERS) if body is not None else {}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if headers:
            hdrs.update(headers)
        data = orjson.dumps(body) if body is not None else None
        self.requests += 1
        started = time.monotonic()
        try:
            async with self.session.request(
                    method, self.target.base + path, data=data, headers=hdrs, allow_redirects=False,
                    timeout=self.timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)) as resp:
                raw = await resp.read()
                status = resp.status
                retry_header = resp.headers.get("Retry-After")
        except asyncio.TimeoutError:
            self.errors["timeout"] += 1
            return Reply(0, None, "timeout", {}, None, time.monotonic() - started)
        except (aiohttp.ClientError, OSError):
            self.errors["connection_error"] += 1
            return Reply(0, None, "connection_error", {}, None, time.monotonic() - started)
        elapsed = time.monotonic() - started
        parsed = None
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
        if 200 <= status < 300:
            return Reply(status, parsed, None, {}, None, elapsed)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        code = error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), str) else None
        code = code or f"http_{status}"
        details = error.get("details") if isinstance(error, dict) and isinstance(error.get("details"), dict) else {}
        retry_after = None
        if retry_header:
            try:
                retry_after = max(0.0, float(retry_header))
            except ValueError:
                retry_after = None
        if count or status >= 500:
            self.count_failure(status, code)
        return Reply(status, parsed, code, details, retry_after, elapsed)

    async def call_retried(self, method: str, path: str, token: str | None = None, body=None,
                           attempts: int = MAX_ATTEMPTS, **kwargs) -> Reply:
        """:meth:`call`, again while the answer is transient (no answer, 429, 5xx), after
        Retry-After or a backoff; the last reply."""
        r = await self.call(method, path, token, body=body, **kwargs)
        for attempt in range(attempts - 1):
            if not r.transient:
                break
            await asyncio.sleep(retry_delay(r, attempt))
            r = await self.call(method, path, token, body=body, **kwargs)
        return r

    async def ws_connect(self, token: str | None = None) -> aiohttp.ClientWebSocketResponse | None:
        """A socket on ``/ws`` (``?token=`` when given), or None after counting why not."""
        if self.socket_budget is not None and len(self._sockets) + self._connecting >= self.socket_budget:
            self._sockets = [ws for ws in self._sockets if not ws.closed]
            if len(self._sockets) + self._connecting >= self.socket_budget:
                self.sockets_refused += 1
                return None
        url = self.target.ws + (f"?token={urllib.parse.quote(token)}" if token else "")
        started = time.monotonic()
        self._connecting += 1
        try:
            ws = await self.ws_session.ws_connect(
                url, autoping=True, heartbeat=None, compress=0, max_msg_size=0,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0))
            self.ws_connect_seconds.add(time.monotonic() - started)
            self._sockets.append(ws)
            return ws
        except aiohttp.WSServerHandshakeError as exc:
            self.count_failure(exc.status, f"ws_handshake_{exc.status}")
        except asyncio.TimeoutError:
            self.errors["ws_timeout"] += 1
        except (aiohttp.ClientError, OSError):
            self.errors["ws_connection_error"] += 1
        finally:
            self._connecting -= 1
        return None


def retry_delay(reply: Reply, attempt: int, cap: float = 10.0) -> float:
    """Retry-After when the server gave one, else exponential backoff from 0.25 s."""
    if reply.retry_after is not None:
        return min(reply.retry_after, 60.0)
    return min(cap, 0.25 * (2 ** attempt))
