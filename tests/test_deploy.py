"""The shipped example configurations load as they are (only the secret path swapped)."""

from __future__ import annotations

from pathlib import Path

import yaml

from igw_exporter.config import parse_config

ROOT = Path(__file__).parent.parent


def test_example_config_is_valid(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x" * 12)
    text = (ROOT / "deploy" / "config.example.yml").read_text()
    text = text.replace("/run/secrets/nhn_api_password", str(secret))
    settings = parse_config(text, "config.example.yml", {})
    assert [t.name for t in settings.tenants] == ["production", "staging"]
    assert settings.tenants[1].regions == ("kr1",)


def test_kubernetes_config_map_holds_a_valid_config(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x" * 12)
    docs = list(
        yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "igw-exporter.yaml").read_text())
    )
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service"]
    text = docs[0]["data"]["config.yml"].replace("/run/secrets/nhn/password", str(secret))
    assert parse_config(text, "configmap", {}).tenants[0].name == "production"
    container = docs[1]["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/run/secrets/nhn" in mounts
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
