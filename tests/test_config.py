"""The config file: the documented example loads; mistakes are all listed with locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from igw_exporter.config import ConfigError, load_config, parse_config, parse_duration

TENANT = "130f20670ac34949b64b10ad8a5989c8"

EXAMPLE = f"""
identity:
  url: https://api-identity-infrastructure.nhncloudservice.com/v2.0/
  username: ops@example.com
  password_env: NHN_API_PASSWORD
regions: [kr1, KR2]
endpoints:
  kr1: https://kr1-api-network-infrastructure.nhncloudservice.com/
tenants:
  - id: {TENANT}
    name: production
    regions: [kr1]
  - id: 0123456789abcdef0123456789abcdef
poll:
  interval: 90s
  timeout: 15
  concurrency: 4
  stale_after: 5m
"""


def test_documented_example_loads() -> None:
    settings = parse_config(EXAMPLE, "c.yml", {"NHN_API_PASSWORD": "s3cret-pw"})
    assert settings.identity_url == "https://api-identity-infrastructure.nhncloudservice.com"
    assert settings.endpoints == {
        "kr1": "https://kr1-api-network-infrastructure.nhncloudservice.com"
    }
    first, second = settings.tenants
    assert (first.id, first.name, first.regions) == (TENANT, "production", ("kr1",))
    assert second.regions == ("kr1", "kr2")
    assert first.username == "ops@example.com"
    assert first.password.reveal() == "s3cret-pw"
    assert (settings.poll.interval, settings.poll.timeout) == (90.0, 15.0)
    assert (settings.poll.concurrency, settings.poll.stale_after) == (4, 300.0)


def test_defaults_and_catalog_regions(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    text = f"identity:\n  username: u\n  password_file: {secret}\ntenants:\n  - id: {TENANT}\n"
    settings = parse_config(text, "c.yml", {})
    assert settings.identity_url == "https://api-identity-infrastructure.nhncloudservice.com"
    assert settings.tenants[0].regions is None
    assert settings.tenants[0].password.reveal() == "from-a-file"
    assert settings.poll.interval == 60.0


def test_every_mistake_is_listed_with_its_line() -> None:
    text = """identity:
  username: ops@example.com
  password: hunter2-inline
  pasword_file: /x
regions: [kr1, "KR 2"]
tenants:
  - name: nameless
poll:
  interval: 0.5s
  timeout: fast
  concurrency: 0
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml", {})
    problems = caught.value.problems
    assert problems == (
        "c.yml:3:13: identity.password: inline passwords are not accepted: "
        "use password_file or password_env",
        "c.yml:4:3: identity.pasword_file: unknown key",
        "c.yml:5:10: regions: 'KR 2' is not a region name like 'kr1'",
        "c.yml:7:5: tenants[0].id: Field required",
        "c.yml:9:13: poll.interval: must be between 1s and 24h",
        "c.yml:10:12: poll.timeout: invalid duration 'fast': use a number of seconds "
        "or like '90s', '5m'",
        "c.yml:11:16: poll.concurrency: Input should be greater than or equal to 1",
        # Cross-field problems come with the others, not only after they are fixed.
        "c.yml:2:3: identity: set one of password_file / password_env",
    )
    assert "hunter2" not in str(caught.value)


def test_cross_field_problems_are_all_listed() -> None:
    text = f"""identity:
  username: u
regions: [kr1]
tenants:
  - id: {TENANT}
    regions: [jp1]
  - id: {TENANT}
    password_env: MISSING_VAR
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml", {})
    assert caught.value.problems == (
        "c.yml:6:14: tenants[0].regions: region 'jp1' is not in the global regions list",
        "c.yml:2:3: identity: set one of password_file / password_env",
        "c.yml:7:9: tenants[1].id: tenant '130f20670ac34949b64b10ad8a5989c8' is listed twice",
        "c.yml:8:19: tenants[1].password_env: environment variable MISSING_VAR is not set or empty",
    )


def test_both_password_sources_is_an_error() -> None:
    text = (
        "identity:\n  username: u\n  password_env: A\n  password_file: /f\n"
        f"tenants: [{{id: {TENANT}}}]\n"
    )
    with pytest.raises(ConfigError, match="set only one of password_file / password_env"):
        parse_config(text, "c.yml", {"A": "x"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "tenants: Field required"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("identity: [\n", "invalid YAML"),
        (f"tenants: [{{id: {TENANT}}}]\nidentity: {{url: ftp://x}}\n", "not an http(s) URL"),
        ("tenants: []\n", "at least 1 item"),
    ],
)
def test_malformed_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(text, "c.yml", {})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), (15, 15.0), ("2.5", 2.5)],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["5 minutes", "m5", "-1", "1x", True, None, "nan", "inf"])
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)


def test_schema_and_cross_field_problems_are_listed_together(tmp_path: Path) -> None:
    text = f"""identity:
  username: u
  password_file: {tmp_path}/absent
  bogus: 1
regions: [kr1]
tenants:
  - id: {TENANT}
    regions: [jp1]
  - id: {TENANT}
    password_file: /x
    password_env: Y
poll:
  interval: 99999999999999999999d
  interval: 5s
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml", {})
    assert caught.value.problems == (
        "c.yml:14:3: interval: duplicate key",
        "c.yml:4:3: identity.bogus: unknown key",
        "c.yml:9:5: tenants[1]: set only one of password_file / password_env",
        "c.yml:8:14: tenants[0].regions: region 'jp1' is not in the global regions list",
        f"c.yml:3:18: identity.password_file: cannot read {tmp_path}/absent: "
        "No such file or directory",
        "c.yml:9:9: tenants[1].id: tenant '130f20670ac34949b64b10ad8a5989c8' is listed twice",
    )


@pytest.mark.parametrize(
    ("url", "ok"),
    [("http://exa mple.com/v2.0", False), ("http://host:port/x", False), ("https://h:5000", True)],
)
def test_identity_url_is_checked_whole(url: str, ok: bool) -> None:
    text = (
        f"identity: {{url: '{url}', username: u, password_env: P}}\ntenants: [{{id: {TENANT}}}]\n"
    )
    if ok:
        assert parse_config(text, "c.yml", {"P": "pw"}).identity_url == url
    else:
        with pytest.raises(ConfigError, match="is not an http"):
            parse_config(text, "c.yml", {"P": "pw"})


def test_whitespace_only_password_is_rejected() -> None:
    text = f"identity: {{username: u, password_env: P}}\ntenants: [{{id: {TENANT}}}]\n"
    with pytest.raises(ConfigError, match="environment variable P is not set or empty"):
        parse_config(text, "c.yml", {"P": "   "})


def test_deeply_nested_yaml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config("[" * 100_000, "c.yml", {})
