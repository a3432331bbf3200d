"""The documentation a clone carries: docs/api.md is there, the README leads to it and
never out of the repository, and its error table names every code the server sends."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
README = ROOT / "README.md"
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:href|src)=\"([^\"]+)\"")
TABLE_ROW = re.compile(r"^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$", re.M)


def _links(path: Path) -> list[str]:
    return [m.group(1) or m.group(2) for m in LINK.finditer(path.read_text(encoding="utf-8"))]


def _texts() -> list[Path]:
    """README.md and every text file under docs/ and benchmarks/."""
    found = [README]
    for folder in ("docs", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                try:
                    path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    continue  # the screenshots
                found.append(path)
    return found


def _codes() -> dict[str, set[int]]:
    """Every error code the server can answer with, and its HTTP status: the domain errors,
    the codes aiohttp's own errors are mapped to, and codes written out literally."""
    from ticketd import errors
    from ticketd.api.http import _HTTP_CODES

    codes: dict[str, set[int]] = {}
    todo = [errors.ApiError]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if isinstance(vars(cls).get("code"), str):
            codes.setdefault(cls.code, set()).add(cls.status)
    for status, code in _HTTP_CODES.items():
        codes.setdefault(code, set()).add(status)
    for path in (ROOT / "ticketd").rglob("*.py"):
        if "loadtest" in path.parts:  # the rehearsal tool reads codes, it sends none
            continue
        for code in re.findall(r"""["']code["']:\s*["']([a-z_]+)["']""", path.read_text(encoding="utf-8")):
            codes.setdefault(code, set())
    return codes


def _error_table() -> dict[str, tuple[int, str]]:
    text = API_DOC.read_text(encoding="utf-8")
    start = text.index("\n## Errors\n")
    end = text.index("\n## ", start + 1)
    rows = {}
    for status, code, when in TABLE_ROW.findall(text[start:end]):
        assert code not in rows, f"{code} is in the error table twice"
        rows[code] = (int(status), when.strip())
    return rows


def _slugs(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    slugs, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        slugs.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return slugs


def test_the_readme_leads_to_docs_api_md_and_never_out_of_the_repository():
    assert API_DOC.is_file()
    links = _links(README)
    assert any(link.split("#")[0] == "docs/api.md" for link in links), links
    outside = [link for link in links if "../shared" in link or link.startswith("..")]
    assert not outside, outside
    assert "../shared" not in README.read_text(encoding="utf-8")


def test_nothing_points_at_the_shared_contract():
    """The contract lives outside the repository: docs/api.md replaces it. (The benchmarks
    may use the shared harness in ../shared/bench: that one is real.)"""
    offenders = []
    for path in _texts():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "shared/CONTRACT.md" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for path in [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]:
        for link in _links(path):
            if re.match(r"[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith("/"):
                continue  # a web address, or a path on the running server (/static/ticketd.js)
            target, _, anchor = link.partition("#")
            resolved = (path.parent / target).resolve() if target else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {link}")
            elif anchor and resolved.suffix == ".md" and anchor not in _slugs(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken, broken


def test_the_error_table_names_every_code_with_its_status_and_when():
    codes = _codes()
    # Sanity: the sources were read (the extra codes the contract does not list among them).
    assert {"validation_error", "invalid_state", "idempotency_key_reused", "method_not_allowed",
            "payload_too_large"} <= set(codes)
    table = _error_table()
    missing = sorted(set(codes) - set(table))
    assert not missing, f"codes missing from the error table of docs/api.md: {missing}"
    for code, statuses in codes.items():
        status, when = table[code]
        assert not statuses or status in statuses, (code, status, statuses)
        assert len(when.split()) >= 3, (code, when)
    unknown = sorted(set(table) - set(codes))
    assert not unknown, f"the error table documents codes the server never sends: {unknown}"


def test_the_readme_lists_every_abuse_limit_with_its_default():
    # The operator's reference: each limit's variable name and its default count and window.
    from ticketd.config import DEFAULT_LIMITS

    text = README.read_text(encoding="utf-8")
    for name, limit in DEFAULT_LIMITS.items():
        row = re.search(rf"^\| `{name.upper()}` \| ([\d,]+) / (\d+) s \|", text, re.M)
        assert row, f"README: no row for TICKETD_LIMIT_{name.upper()}"
        assert (int(row.group(1).replace(",", "")), int(row.group(2))) == (limit.count, limit.seconds), name
