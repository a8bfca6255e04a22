"""Run the real promtool (Debian package ``prometheus``, installed by .ci/run)."""

from __future__ import annotations

import shutil
import subprocess


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: run .ci/run, or apt-get install prometheus"
    return path


def check_metrics(exposition: bytes) -> str:
    """promtool's findings (lint problems), or "" when the exposition is clean.

    A parse error makes promtool exit non-zero; that fails the test outright."""
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=60,
        check=False,
    )
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, out
    return out.strip()
