"""Helpers of the end-to-end tests: the shipped files, their PromQL, and real daemons."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.integration.harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
ALERTMANAGER_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
ROUTE_TESTS = ALERTMANAGER_DIR / "routes-tests.yml"
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
PROVISIONING = REPO / "dashboards" / "provisioning"
RUNBOOK = REPO / "docs" / "runbook.md"


def binary(name: str) -> str:
    """The path of a real binary; a missing one fails the test (never a skip)."""
    path = shutil.which(name)
    assert path, (
        f"{name} not found: run .ci/run, or apt-get install prometheus prometheus-alertmanager"
    )
    return path


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary(args[0]), *args[1:]], check=False, capture_output=True, text=True, timeout=timeout
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ----------------------------------------------------------------- rules and alerts


def rules() -> list[dict[str, Any]]:
    """Every rule of the shipped rule files, with ``file`` and ``group`` added."""
    found = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                found.append({**rule, "file": path.name, "group": group["name"]})
    return found


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


# ---------------------------------------------------------------------------- PromQL


@dataclass(frozen=True)
class Expr:
    """One PromQL expression shipped in a dashboard or a rule file."""

    source: str  # file name
    where: str  # what in the file: a panel and refId, a variable, a rule
    text: str  # as written (Grafana variables not substituted)
    kind: str  # "panel", "variable" or "rule"

    @property
    def id(self) -> str:
        return f"{self.source}:{self.where}"


_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?P<expr>.+),\s*(?P<label>[A-Za-z_]\w*)\s*\)\s*$", re.S
)


def variable_promql(query: str) -> str:
    """Grafana's ``label_values(expr, label)`` as the PromQL it runs."""
    match = _LABEL_VALUES.match(query)
    assert match, f"unsupported variable query (use label_values(expr, label)): {query!r}"
    return f"group by ({match['label']}) ({match['expr']})"


def dashboard_exprs(path: Path) -> Iterator[Expr]:
    board = json.loads(path.read_text())

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(board["panels"]):
        for target in panel.get("targets", []):
            where = f"panel {panel['title']!r} {target['refId']}"
            yield Expr(path.name, where, target["expr"], "panel")
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            yield Expr(path.name, f"variable {var['name']}", variable_promql(query), "variable")


def all_values(expr: Expr) -> dict[str, str]:
    """The variables of the expression's dashboard set to "All": allValue, else any."""
    if expr.kind == "rule":
        return {}
    board = json.loads((REPO / "dashboards" / expr.source).read_text())
    return {
        v["name"]: v.get("allValue") or ".+"
        for v in board["templating"]["list"]
        if v["type"] == "query"
    }


def rule_exprs() -> Iterator[Expr]:
    for rule in rules():
        name = f"alert {rule['alert']}" if "alert" in rule else f"record {rule['record']}"
        yield Expr(rule["file"], name, rule["expr"], "rule")


_QUERY_TEMPLATE = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"[^|{}]*\|\s*query\b')


def annotation_exprs() -> Iterator[Expr]:
    """PromQL that alert annotations run with ``printf "..." ... | query``.

    The printf verbs become placeholder values, so the expression can be parsed.
    """
    for rule in rules():
        for key, template in rule.get("annotations", {}).items():
            for match in _QUERY_TEMPLATE.finditer(template):
                text = match[1].replace('\\"', '"').replace("\\\\", "\\")
                text = re.sub(r"%q", '"x"', re.sub(r"%[sdv]", "x", text))
                yield Expr(rule["file"], f"alert {rule['alert']} annotation {key}", text, "rule")


def all_exprs() -> list[Expr]:
    exprs = [e for path in DASHBOARDS for e in dashboard_exprs(path)]
    return exprs + list(rule_exprs())


# Grafana's built-in interval variables, as a dashboard over the last hour would set
# them against a Prometheus scraped every second.
BUILTINS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m"}
# A name, not "$1": label_replace() replacements refer to regex groups that way.
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables; an unknown one fails (a typo would match nothing)."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in BUILTINS:
            return BUILTINS[name]
        assert name in values, f"unknown variable ${name} in {text!r}"
        return values[name]

    return _VARIABLE.sub(replace, text)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_TOKEN = re.compile(
    r"(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]*)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)"
)
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels, keywords left out)."""
    text = _STRING.sub('""', promql)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _TOKEN.finditer(text):
        name = match["name"]
        if not name or name.lower() in _KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        names.add(name)
    return names


def exposed_names(exposition: str) -> set[str]:
    """Sample names of a text exposition, and the names its families may produce."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            names.add(family)
            if kind in ("histogram", "summary"):
                names.update(f"{family}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            if kind == "counter" and not family.endswith("_total"):
                names.add(f"{family}_total")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


# ------------------------------------------------------------------- real daemons


class Daemon:
    """A real Prometheus or Alertmanager process on 127.0.0.1, logging to a file."""

    def __init__(self, args: list[str], log_path: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{self.log()}")
            try:
                return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout, interval=0.2)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def prometheus_config(exporter: str, alertmanager: str, interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml with only the addresses and intervals changed.

    Rule file paths become absolute, so the shipped rules load unchanged from a
    configuration written elsewhere.
    """
    config = copy.deepcopy(load_yaml(PROMETHEUS_CONFIG))
    config["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "igw-exporter"]
    job.update(scrape_interval=interval, scrape_timeout=interval)
    [static] = job["static_configs"]
    assert len(static["targets"]) == 1, "the example scrapes one exporter"
    static["targets"] = [exporter]
    [manager] = config["alerting"]["alertmanagers"]
    [am_static] = manager["static_configs"]
    am_static["targets"] = [alertmanager]
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    return config


def alertmanager_config() -> dict[str, Any]:
    """The shipped alertmanager.yml with receivers that notify nobody."""
    config = copy.deepcopy(load_yaml(ALERTMANAGER_CONFIG))
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    return config


def start_prometheus(workdir: Path, exporter: str, alertmanager: str) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(exporter, alertmanager)))
    port = free_port()
    daemon = Daemon(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        workdir / "prometheus.log",
        port,
    )
    daemon.wait_ready()
    return daemon


def start_alertmanager(workdir: Path) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config()))
    port = free_port()
    daemon = Daemon(
        [
            binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single, loopback-only instance
        ],
        workdir / "alertmanager.log",
        port,
    )
    daemon.wait_ready()
    return daemon


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """An instant query; a PromQL error fails with Prometheus' message."""
    response = requests.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    assert body.get("status") == "success", f"{promql!r}: {body.get('error', body)}"
    result: list[dict[str, Any]] = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return [{"metric": {}, "value": result}]
    return result


def prometheus_alerts(prometheus: str) -> list[dict[str, Any]]:
    response = requests.get(f"{prometheus}/api/v1/alerts", timeout=10)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return found


def alertmanager_alerts(alertmanager: str) -> list[dict[str, Any]]:
    response = requests.get(f"{alertmanager}/api/v2/alerts", timeout=10)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found
