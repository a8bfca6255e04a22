"""Fault kinds 1-6 of issue 4: the network API misbehaves at the HTTP and socket level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from igw_exporter.simulator import Fault, Simulator
from tests.faults.checks import (
    DEADLINE,
    MARGIN,
    PROD,
    STG,
    TIMEOUT,
    FaultWatch,
    assert_process_sound,
    gateway_ids,
    of,
    requests_total,
    seed,
    up,
)
from tests.integration.harness import running_exporter, wait_for, write_config

DURATION = "igw_exporter_target_poll_duration_seconds"
LAST_SUCCESS = "igw_exporter_target_last_success_timestamp_seconds"


def config(tmp_path: Path, sim: Simulator, **kwargs: Any) -> Path:
    return write_config(tmp_path / "c.yml", sim, timeout=TIMEOUT, **kwargs)


def test_01_region_answers_503_for_several_polls_then_recovers(
    sim: Simulator, tmp_path: Path
) -> None:
    seed(sim)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [("kr1", PROD), ("kr1", STG)])
        fault = sim.add_fault(Fault(service="kr1", status=503))
        samples = watch.wait_down(polls=3)
        watch.check_reasons("HTTP 503: Service Unavailable")
        # 5xx is retried while the deadline allows: more than one try per poll.
        assert watch.delta(samples, "kr1", "503") >= 2 * 2
        sim.remove_fault(fault)
        after = watch.wait_recovered()
        assert watch.delta(after, "kr1", "503") == fault.served
        assert watch.delta(after, "kr2", "503") == 0


def test_02_429_with_retry_after_then_success_in_the_same_poll(
    sim: Simulator, tmp_path: Path
) -> None:
    seed(sim)
    key = ("kr1", PROD)
    # A longer interval, so that the poll which met the 429 is still the last one
    # when /metrics is read.
    with running_exporter(config(tmp_path, sim, interval=4)) as exporter:
        before = exporter.scrape()
        fault = sim.add_fault(
            Fault(
                service="kr1",
                tenant_id=PROD,
                path_prefix="/v2.0/internetgateways",
                status=429,
                headers={"Retry-After": "1"},
                times=1,
            )
        )
        wait_for(lambda: fault.served == 1, timeout=10)
        exporter.wait_cycles(1)
        samples = exporter.scrape()
        # The same poll waited the Retry-After second, retried and succeeded: no gap.
        assert up(samples, key) == 1
        assert of(samples, "igw_exporter_target_stale", key) == 0
        duration = of(samples, DURATION, key)
        assert duration is not None and 1.0 <= duration <= DEADLINE + MARGIN
        last_before, last_after = of(before, LAST_SUCCESS, key), of(samples, LAST_SUCCESS, key)
        assert last_before is not None and last_after is not None and last_after > last_before
        assert gateway_ids(samples, key) == gateway_ids(before, key)
        assert requests_total(samples, "kr1", "429") - requests_total(before, "kr1", "429") == 1
        assert requests_total(samples, "kr1", "200") - requests_total(before, "kr1", "200") >= 2
        assert exporter.events("target_down") == []
        assert_process_sound(exporter)


def test_03_connection_refused(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [("kr1", PROD), ("kr1", STG)])
        sim.set_region_reachable("kr1", False)
        samples = watch.wait_down()
        watch.check_reasons("connection refused")
        assert watch.delta(samples, "kr1", "connection_error") >= 2
        sim.set_region_reachable("kr1", True)
        watch.wait_recovered()


def test_03_unresolvable_host(sim: Simulator, tmp_path: Path) -> None:
    gateways = seed(sim)
    path = config(tmp_path, sim, extra="endpoints:\n  kr1: http://nonexistent.invalid\n")
    with running_exporter(path) as exporter:
        affected = [("kr1", PROD), ("kr1", STG)]
        # Down from the first poll: never succeeded, so nothing is stale or exported.
        watch = FaultWatch(exporter, affected, from_start=True)
        for key in affected:
            assert up(watch.before, key) == 0
            assert gateway_ids(watch.before, key) == set()
        samples = watch.wait_down(stale=False)
        watch.check_reasons("cannot resolve host")
        for key in affected:
            assert of(samples, "igw_exporter_target_stale", key) == 0
            assert of(samples, "igw_exporter_target_gateways", key) == 0
            assert of(samples, LAST_SUCCESS, key) is None
        assert requests_total(samples, "kr1", "connection_error") >= 2
        # The fault ends: the endpoint override is removed and the config reloaded.
        config(tmp_path, sim)
        assert requests.post(exporter.url + "/-/reload", timeout=5).status_code == 200
        after = watch.wait_recovered()
        for key in affected:
            assert gateway_ids(after, key) == {str(g["id"]) for g in gateways[key]}


def test_04_no_answer_ever_and_a_dripping_body_end_at_the_deadline(
    sim: Simulator, tmp_path: Path
) -> None:
    seed(sim)
    hang_key, drip_key = ("kr1", PROD), ("kr2", STG)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [hang_key, drip_key])
        hang = sim.add_fault(Fault(service="kr1", tenant_id=PROD, hang=True))
        # Headers at once, then one byte every 0.2 s: every read gets data well
        # within the 1 s read timeout, so only the poll's deadline can end it (the
        # whole body would take minutes).
        drip = sim.add_fault(Fault(service="kr2", tenant_id=STG, drip=0.2))
        samples = watch.wait_down()
        watch.check_reasons({hang_key: "timeout after 1s", drip_key: "deadline exceeded"})
        hung = of(samples, DURATION, hang_key)
        assert hung is not None and hung >= TIMEOUT - 0.05
        dripped = of(samples, DURATION, drip_key)
        assert dripped is not None and dripped >= DEADLINE - 0.1
        sim.remove_fault(hang)
        sim.remove_fault(drip)
        after = watch.wait_recovered()
        assert watch.delta(after, "kr1", "timeout") == hang.served
        assert watch.delta(after, "kr2", "timeout") == drip.served


def test_05_body_cut_off_mid_json_and_connection_reset(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    cut_key, reset_key = ("kr1", PROD), ("kr2", STG)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [cut_key, reset_key])
        # Headers with the full Content-Length, then 40 bytes of the body and EOF.
        cut = sim.add_fault(Fault(service="kr1", tenant_id=PROD, truncate=40))
        reset = sim.add_fault(Fault(service="kr2", tenant_id=STG, reset=True))
        watch.wait_down()
        watch.check_reasons(
            {
                cut_key: "connection broken while reading the answer (ProtocolError)",
                reset_key: "connection reset",
            }
        )
        sim.remove_fault(cut)
        sim.remove_fault(reset)
        after = watch.wait_recovered()
        assert watch.delta(after, "kr1", "connection_error") == cut.served
        assert watch.delta(after, "kr2", "connection_error") == reset.served


def test_06_html_and_invalid_json_answers(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    html_502, html_200, bad_json = ("kr1", PROD), ("kr2", STG), ("jp1", PROD)
    page = (
        "<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>\n"
        "<body><h1>Back soon</h1></body></html>\n"
    )
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [html_502, html_200, bad_json])
        faults = [
            # The load balancer's own nginx error page.
            sim.add_fault(Fault(service="kr1", tenant_id=PROD, status=502)),
            sim.add_fault(
                Fault(service="kr2", tenant_id=STG, status=200, body=page, content_type="text/html")
            ),
            sim.add_fault(
                Fault(
                    service="jp1",
                    tenant_id=PROD,
                    body='{"internetgateways": [{"id": "a",',
                    content_type="application/json",
                )
            ),
        ]
        watch.wait_down()
        watch.check_reasons(
            {
                html_502: "HTTP 502: Bad Gateway",
                html_200: "answer is not JSON (text/html): Scheduled maintenance",
                bad_json: "answer is not JSON (application/json): "
                '{"internetgateways": [{"id": "a",',
            }
        )
        for fault in faults:
            sim.remove_fault(fault)
        after = watch.wait_recovered()
        assert watch.delta(after, "kr1", "502") == faults[0].served
        assert watch.delta(after, "kr2", "invalid_response") == faults[1].served
        assert watch.delta(after, "jp1", "invalid_response") == faults[2].served
