"""Fault kind 17 of issue 4: the listen port is already taken at start."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from igw_exporter.simulator import Simulator
from tests.faults.checks import REGIONS
from tests.integration.harness import Exporter, write_config


def test_17_listen_port_in_use_exits_at_once_with_a_clear_message(
    sim: Simulator, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        exporter = Exporter(
            [
                "--config.file",
                str(write_config(tmp_path / "c.yml", sim)),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            tmp_path / "exporter.log",
            port,
        )
        try:
            assert exporter.process.wait(10) == 1
            elapsed = time.monotonic() - start
        finally:
            exporter.kill()
    # At once: about the interpreter's start-up, not a poll or a retry loop.
    assert elapsed < 5
    lines = exporter.log_text().splitlines()
    # One JSON event for log pipelines, and one plain sentence for a human.
    events = [json.loads(line) for line in lines if line.startswith("{")]
    [failed] = [e for e in events if e["event"] == "listen_failed"]
    assert (failed["level"], failed["error"]) == ("error", "Address already in use")
    assert failed["listen_address"] == f"127.0.0.1:{port}"
    assert f"igw-exporter: cannot listen on 127.0.0.1:{port}: Address already in use" in lines
    # Never a silent poller: nothing was polled, not even identity.
    assert [e["event"] for e in events] == ["listen_failed"]
    assert sim.request_count("identity") == 0
    assert all(sim.request_count(region) == 0 for region in REGIONS)
