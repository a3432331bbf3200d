"""Who the fans are: bearer tokens from a file; anonymous visitors (``POST /api/visitors``);
or accounts, from the admin bulk route with admin credentials, else (or on a ticketd older
than that route) one registration per fan, scrypt on the server for each, so with bounded
concurrency."""

from __future__ import annotations

import asyncio
import secrets

BULK_PAGE = 5000
BULK_PATH = "/api/admin/users/bulk"


async def create(c, count: int, progress) -> tuple[list[str], str, list[str]]:
    """Up to ``count`` bearer tokens, the path used (``file``, ``visitors``, ``bulk`` or
    ``register``) and notes."""
    notes: list[str] = []
    if c.opts.tokens_file:
        return _from_file(c.opts.tokens_file, count), "file", notes
    if c.visitors:
        return await _one_by_one(c, count, progress, "/api/visitors", lambda i: None), "visitors", notes
    if c.admin_token:
        users, note = await _bulk(c, count, progress)
        if users is not None:
            return users, "bulk", notes
        notes.append(note)
    else:
        notes.append("no --admin-email/--admin-password: the bulk account route needs an admin")
    password = secrets.token_urlsafe(16)

    def registration(i: int) -> dict:
        return {"email": f"loadtest-{c.run_id}-{i + 1}@loadtest.invalid", "password": password,
                "name": f"Loadtest fan {i + 1}"}
    return await _one_by_one(c, count, progress, "/api/auth/register", registration), "register", notes


async def _bulk(c, count: int, progress):
    users: list[str] = []
    page = 0
    while len(users) < count:
        page += 1
        want = min(BULK_PAGE, count - len(users))
        body = {"count": want, "prefix": f"loadtest-{c.run_id}-{page}"}
        r = await c.api.call_retried("POST", BULK_PATH, c.admin_token, body=body, count=False, timeout=300)
        if not r.ok:
            if r.status < 500 and r.status not in (0, 404, 405):
                c.api.count_failure(r.status, r.code)
            if not users:
                return None, (f"POST {BULK_PATH} answered {r.status or 'nothing'} {r.code or ''}: "
                              "registering every fan through /api/auth/register instead")
            break
        got = [u["token"] for u in (r.data or {}).get("users") or [] if isinstance(u, dict) and u.get("token")]
        if not got:
            break
        users.extend(got)
        progress(len(users))
    return users[:count], ""


async def _one_by_one(c, count: int, progress, path: str, body_for) -> list[str]:
    """``count`` POSTs of ``body_for(i)`` to ``path``, a few in flight; the tokens they answered."""
    results: list[str | None] = [None] * count
    next_index = 0
    done = 0

    async def worker():
        nonlocal next_index, done
        while next_index < count:
            i = next_index
            next_index += 1
            r = await c.api.call_retried("POST", path, body=body_for(i), attempts=8)
            if r.ok and isinstance(r.data, dict) and r.data.get("token"):
                results[i] = r.data["token"]
            done += 1
            progress(done)

    await asyncio.gather(*(worker() for _ in range(max(1, min(c.register_concurrency, count)))))
    return [r for r in results if r is not None]


def _from_file(path: str, count: int) -> list[str]:
    """``TOKEN`` or ``USERID TOKEN`` per line; blank lines and ``#`` comments skipped."""
    users = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            users.append(fields[-1])
            if len(users) == count:
                break
    return users
