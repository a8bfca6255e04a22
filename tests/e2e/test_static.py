"""The shipped Prometheus, Alertmanager and Grafana files, checked by the real tools."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.tools import (
    ALERTMANAGER_CONFIG,
    DASHBOARDS,
    PROMETHEUS_CONFIG,
    PROMETHEUS_DIR,
    PROVISIONING,
    ROUTE_TESTS,
    RULE_FILES,
    RULE_TEST_FILES,
    RUNBOOK,
    alerts,
    load_yaml,
    run,
)

pytestmark = pytest.mark.e2e


def output(result: Any) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


# ------------------------------------------------------------------------- promtool


def test_shipped_files_exist() -> None:
    assert RULE_FILES and RULE_TEST_FILES and DASHBOARDS
    assert PROMETHEUS_CONFIG.is_file() and ALERTMANAGER_CONFIG.is_file()


def test_promtool_check_rules() -> None:
    result = run("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, output(result)
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), output(result)


def test_promtool_test_rules() -> None:
    result = run("promtool", "test", "rules", *map(str, RULE_TEST_FILES))
    assert result.returncode == 0, output(result)
    assert result.stdout.count("SUCCESS") == len(RULE_TEST_FILES), output(result)


def test_promtool_check_config(tmp_path: Path) -> None:
    # Installed the way the comments say: the directory copied as a whole (here
    # instead of /etc/prometheus), so the relative rule_files paths resolve.
    installed = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, installed)
    result = run("promtool", "check", "config", str(installed / "prometheus.yml"))
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, output(result)


def test_rule_tests_load_the_shipped_rule_files() -> None:
    loaded = set()
    for path in RULE_TEST_FILES:
        for pattern in load_yaml(path)["rule_files"]:
            resolved = (path.parent / pattern).resolve()
            assert resolved in RULE_FILES, f"{path.name} loads {pattern}, not a shipped file"
            loaded.add(resolved)
    assert loaded == set(RULE_FILES)


def test_every_alert_fires_in_a_unit_test_and_has_a_silent_look_alike() -> None:
    rules = alerts()
    firing: dict[str, int] = dict.fromkeys(rules, 0)
    silent: dict[str, int] = dict.fromkeys(rules, 0)
    for path in RULE_TEST_FILES:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                # A typo here would make an "expects nothing" case pass vacuously.
                assert name in rules, f"{path.name}: unknown alert {name!r} in {test['name']!r}"
                expected = case.get("exp_alerts") or []
                if not expected:
                    silent[name] += 1
                    continue
                firing[name] += 1
                for alert in expected:
                    labels, annotations = alert["exp_labels"], alert.get("exp_annotations", {})
                    assert labels["severity"] == rules[name]["labels"]["severity"], name
                    assert set(annotations) == set(rules[name]["annotations"]), name
    assert not [n for n, count in firing.items() if count == 0], f"never fire: {firing}"
    assert not [n for n, count in silent.items() if count == 0], f"no negative case: {silent}"


def minutes(duration: str) -> float:
    units = {"s": 1 / 60, "m": 1, "h": 60}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_every_alert_is_silent_before_it_fires() -> None:
    # Proves the for: in each alert's tests: some scenario checks it still silent
    # at an earlier time than the first time it fires.
    proven = set()
    for path in RULE_TEST_FILES:
        for test in load_yaml(path)["tests"]:
            cases: dict[str, list[tuple[float, bool]]] = {}
            for case in test.get("alert_rule_test", []):
                fires = bool(case.get("exp_alerts"))
                cases.setdefault(case["alertname"], []).append((minutes(case["eval_time"]), fires))
            for name, evals in cases.items():
                first_fire = min((t for t, fires in evals if fires), default=None)
                if first_fire is not None and any(t < first_fire for t, f in evals if not f):
                    proven.add(name)
    assert set(alerts()) - proven == set()


# ------------------------------------------------------------------ the alert rules


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", RUNBOOK.read_text(), re.M)
    return {github_anchor(h) for h in headings}


def test_alerts_carry_severity_annotations_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert "for" in rule, f"{name} has no for:"
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        url = annotations["runbook_url"]
        assert re.match(r"^https://.+/docs/runbook\.md#[\w-]+$", url), url
        assert url.split("#")[1] == name.lower(), url
        assert name.lower() in anchors, f"docs/runbook.md has no section {name}"
        if name.startswith("NHNCloudIGW"):
            # A gateway alert names the gateway, its region and its tenant.
            for text in (annotations["summary"], annotations["description"]):
                for label in ("name", "id", "nhn_region", "tenant"):
                    assert f"$labels.{label} }}" in text, (name, label)


def test_every_runbook_section_is_an_alert_or_a_guide() -> None:
    sections = re.findall(r"^## (\S+)\s*$", RUNBOOK.read_text(), re.M)
    names = set(alerts())
    alert_sections = [s for s in sections if s.startswith(("NHNCloudIGW", "IGWExporter"))]
    assert set(alert_sections) == names
    assert len(alert_sections) == len(set(alert_sections)), "a section appears twice"


# ---------------------------------------------------------------------- Alertmanager


def test_amtool_check_config() -> None:
    result = run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout, output(result)


ROUTE_CASES = load_yaml(ROUTE_TESTS)["cases"]


@pytest.mark.parametrize("case", ROUTE_CASES, ids=[c["name"] for c in ROUTE_CASES])
def test_amtool_routes(case: dict[str, Any]) -> None:
    labels = [f"{k}={v}" for k, v in case["labels"].items()]
    receivers = ",".join(case["receivers"])
    result = run(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receivers}",
        *labels,
    )
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == receivers, output(result)


def test_routing_cases_cover_every_alert_with_its_severity() -> None:
    cases = {c["labels"]["alertname"]: c["labels"].get("severity") for c in ROUTE_CASES}
    for name, rule in alerts().items():
        assert name in cases, f"routes-tests.yml has no case for {name}"
        assert cases[name] == rule["labels"]["severity"], name


def test_grouping_and_inhibitions_name_shipped_alerts() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    assert set(config["route"]["group_by"]) == {"nhn_region", "tenant_id"}
    names = set(alerts())
    for inhibit in config["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            if matcher.startswith("alertname"):
                # A renamed alert would silently stop being inhibited (or inhibiting).
                pattern = re.sub(r'^alertname=~?"(.*)"$', r"\1", matcher)
                assert any(re.fullmatch(pattern, n) for n in names), matcher
        # Scoped to a target (region and tenant) or to an exporter (job): never global.
        equal = set(inhibit["equal"])
        assert {"nhn_region", "tenant_id"} <= equal or "job" in equal, inhibit


# --------------------------------------------------------------------------- Grafana


def walk_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(walk_panels(panel.get("panels", [])))
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_provisioning_ready(path: Path) -> None:
    board = json.loads(path.read_text())
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]), board["uid"]
    assert board["id"] is None, "an exported id makes provisioning clash"
    assert "__inputs" not in board, "use the datasource variable, not import-time inputs"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("nhn_region", "tenant"):
        assert variables[name]["type"] == "query", name
        assert variables[name]["datasource"]["uid"] == "${datasource}", name
    panels = walk_panels(board["panels"])
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            # Per-gateway and per-target queries follow the region and tenant pickers.
            if re.search(r"nhncloud_igw|igw_exporter_target_|igw_exporter:target", target["expr"]):
                assert "$nhn_region" in target["expr"] or "$tenant_id" in target["expr"], (
                    panel["title"],
                    target["expr"],
                )


def test_dashboard_uids_and_titles_are_unique() -> None:
    boards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    assert len({b["title"] for b in boards}) == len(boards)


def test_grafana_provisioning_files() -> None:
    [datasources] = (PROVISIONING / "datasources").glob("*.yml")
    [source] = load_yaml(datasources)["datasources"]
    assert source["type"] == "prometheus" and source["uid"]
    [dashboards] = (PROVISIONING / "dashboards").glob("*.yml")
    config = load_yaml(dashboards)
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
