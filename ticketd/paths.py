"""Where the files that ship beside the code are: ``sql/`` and ``static/``."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def bundled(name: str, marker: str) -> Path:
    """``ticketd/<name>`` in an installed package (setup.cfg puts it there), else
    ``<checkout>/<name>`` beside the package in a source checkout. ``marker`` is a file the
    folder always holds."""
    installed = PACKAGE / name
    return installed if (installed / marker).exists() else PACKAGE.parent / name
