"""The README's curl walkthrough, pasted as it stands into bash against a real
`ticketd serve` (which made its demo data and printed the admin password), twice: a
second paste must work as well as the first."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def demo_server(ticketd_processes):
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is missing (CI is set)")
        pytest.skip("curl is not installed")
    server = ticketd_processes(1, TICKETD_DEMO="on")[0]  # the demo data, as the embedded start makes
    deadline = time.monotonic() + 10
    while (found := re.search(r"admin password: (\S+)", server.log())) is None:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    return server, found.group(1)


def _paste(script: str) -> list[str]:
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert not done.stderr, done.stderr + done.stdout
    return done.stdout.splitlines()


def test_the_curl_walkthrough_works_when_pasted_twice(demo_server):
    server, password = demo_server
    first = _block("## Using the API with curl").replace("http://127.0.0.1:8080", server.url)
    queue = _block("### The waiting room with curl").replace("'<printed password>'", f"'{password}'")
    for paste in range(2):
        lines = _paste(first)
        me = json.loads(lines[0])
        assert me["user"]["email"] == "fan@example.com"
        assert json.loads(lines[3])["status"] == "admitted"
        confirmed, cancelled = json.loads(lines[4]), json.loads(lines[5])
        assert confirmed["reservation"]["status"] == "confirmed"
        assert cancelled["reservation"]["status"] == "cancelled"

        lines = _paste(first + queue)[7:]  # after the first block's seven lines
        assert "'mode': 'on'" in lines[0] and "'capacity': 2" in lines[0]
        statuses = [json.loads(line)["status"] for line in lines[6:11]]
        assert statuses == ["admitted", "admitted", "queued", "queued", "queued"], (paste, lines)
        assert [json.loads(line)["position"] for line in lines[8:11]] == [1, 2, 3]
        assert lines[11] == "204"
        assert [json.loads(line)["status"] for line in lines[12:17]] == ["none", "admitted", "admitted",
                                                                        "queued", "queued"]
        assert lines[17] == "204"
        after = [json.loads(line) for line in lines[18:23]]
        assert [a["status"] for a in after] == ["none", "none", "admitted", "admitted", "queued"]
        assert after[4]["position"] == 1
        stats = json.loads(lines[23])
        assert stats["queueLength"] == 1 and stats["activeUsers"] == 2
        assert "'mode': 'auto'" in lines[24]
