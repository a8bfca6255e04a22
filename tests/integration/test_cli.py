"""``--config.check``, ``--once`` and ``--version`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from igw_exporter import __version__
from igw_exporter.simulator import Fault, Simulator
from tests.integration.harness import TENANTS, add_users, parse, value, write_config
from tests.promtool import check_metrics

PROD = TENANTS["production"][0]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "igw_exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_check_lists_every_mistake_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "identity:\n  username: u\n  password: inline-secret-value\n"
        "tenants:\n  - id: not a tenant\n  - name: x\npoll:\n  interval: 0\n  colour: blue\n"
    )
    result = run("--config.file", str(config), "--config.check")
    assert result.returncode == 1
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert lines == [
        f"{config}:3:13: identity.password: inline passwords are not accepted: use "
        "password_file or password_env",
        f"{config}:5:9: tenants[0].id: 'not a tenant' is not a tenant (project) id",
        f"{config}:6:5: tenants[1].id: Field required",
        f"{config}:8:13: poll.interval: must be between 1s and 24h",
        f"{config}:9:3: poll.colour: unknown key",
        f"{config}:2:3: identity: set one of password_file / password_env",
    ]
    assert "inline-secret-value" not in result.stdout + result.stderr


def test_config_check_ok_reads_no_network_and_shows_no_secret(tmp_path: Path) -> None:
    # Nothing listens there: a check that tried the network would fail or hang.
    config = write_config(tmp_path / "c.yml", "http://127.0.0.1:9")
    result = run("--config.file", str(config), "--config.check")
    assert result.returncode == 0, result.stderr
    assert "OK: 2 tenants" in result.stdout
    for _, _, password in TENANTS.values():
        assert password not in result.stdout + result.stderr


def test_once_prints_a_valid_exposition(tmp_path: Path) -> None:
    with Simulator(regions=("kr1", "jp1")) as sim:
        add_users(sim)
        gw = sim.create_gateway("kr1", PROD, name="igw-once", state="available")
        config = write_config(tmp_path / "c.yml", sim)
        result = run("--config.file", str(config), "--once")
        assert result.returncode == 0, result.stderr
        assert check_metrics(result.stdout.encode()) == ""
        samples = parse(result.stdout)
        assert value(samples, "nhncloud_igw_state", id=str(gw["id"]), state="available") == 1
        assert value(samples, "igw_exporter_polls_total") == 1

        sim.add_fault(Fault(service="jp1", status=500))
        failed = run("--config.file", str(config), "--once")
        assert failed.returncode == 1
        samples = parse(failed.stdout)
        assert value(samples, "igw_exporter_target_up", nhn_region="jp1", tenant_id=PROD) == 0
        assert value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 1


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"igw-exporter {__version__} (python 3.")
