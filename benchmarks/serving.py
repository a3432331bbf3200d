"""What the benchmarks share about the ``ticketd serve`` they start."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path


def wait_ready(url: str, process: subprocess.Popen, log: Path | None = None, timeout: float = 60) -> None:
    """Until ``url``'s /readyz answers; raises (with the end of ``log``) if the server
    exits or is not ready within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                said = f":\n{log.read_text(errors='replace')[-3000:]}" if log else ""
                raise RuntimeError(f"ticketd did not start{said}") from None
            time.sleep(0.1)
