"""The configuration file: strict parsing, every problem reported with its location."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .secret import Secret

DEFAULT_IDENTITY_URL = "https://api-identity-infrastructure.nhncloudservice.com"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_REGION = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason with its location."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def parse_duration(value: object) -> float:
    """``90s``, ``5m``, ``1h30m``, ``250ms`` or plain seconds (number or numeric string)."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like '90s', '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"invalid duration {value!r}: use a number of seconds or like '90s', '5m'"
                ) from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError("a duration must be a number of seconds or like '90s', '5m'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite, non-negative time")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _http_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{value!r} is not an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _region_name(value: str) -> str:
    region = value.strip().lower()
    if not _REGION.match(region):
        raise ValueError(f"{value!r} is not a region name like 'kr1'")
    return region


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class _Credentials(_Strict):
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    # Declared only to give a clear message instead of "extra inputs not permitted".
    password: object = None

    @field_validator("password")
    @classmethod
    def _no_inline_password(cls, value: object) -> None:
        if value is not None:
            raise ValueError("inline passwords are not accepted: use password_file or password_env")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class _Identity(_Credentials):
    url: str = DEFAULT_IDENTITY_URL

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = _http_url(value)
        # Users paste either the service root or the versioned root.
        return url[: -len("/v2.0")] if url.endswith("/v2.0") else url


class _Tenant(_Credentials):
    id: str
    name: str = ""
    regions: list[str] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _TENANT_ID.match(value):
            raise ValueError(f"{value!r} is not a tenant (project) id")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _region_list(value)


class _Poll(_Strict):
    interval: Duration = 60.0
    timeout: Duration = 15.0
    concurrency: int = Field(default=8, ge=1, le=256)
    stale_after: Duration = 300.0

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if not 1.0 <= value <= 86400.0:
            raise ValueError("must be between 1s and 24h")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0 < value <= 600.0:
            raise ValueError("must be greater than 0 and at most 10m")
        return value

    @field_validator("stale_after")
    @classmethod
    def _stale_after(cls, value: float) -> float:
        if value > 30 * 86400.0:
            raise ValueError("must be at most 30 days")
        return value


class _Config(_Strict):
    identity: _Identity = Field(default_factory=_Identity)
    regions: list[str] | None = None
    endpoints: dict[str, str] = Field(default_factory=dict)
    tenants: list[_Tenant] = Field(min_length=1)
    poll: _Poll = Field(default_factory=_Poll)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _region_list(value)

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        return {_region_name(region): _http_url(url) for region, url in value.items()}


def _region_list(value: list[str]) -> list[str]:
    regions = [_region_name(v) for v in value]
    if not regions:
        raise ValueError("must not be empty (leave it out to use the catalog's regions)")
    if len(set(regions)) != len(regions):
        raise ValueError("lists a region twice")
    return regions


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A tenant to poll, with its resolved credentials."""

    id: str
    name: str
    regions: tuple[str, ...] | None  # None: every region the catalog offers
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class PollSettings:
    interval: float = 60.0
    timeout: float = 15.0
    concurrency: int = 8
    stale_after: float = 300.0


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration the daemon runs with."""

    identity_url: str
    tenants: tuple[TenantSpec, ...]
    endpoints: Mapping[str, str]
    poll: PollSettings = PollSettings()


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: cannot read: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {_os_reason(exc)}"]) from None
    return parse_config(text, source, os.environ if environ is None else environ)


def parse_config(text: str, source: str, environ: Mapping[str, str]) -> Settings:
    """Validate config text. ``source`` names it in messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping"])
    problems = duplicate_keys(source, node)
    raw: _Config | None = None
    try:
        raw = _Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(source, node, err) for err in exc.errors())
    except RecursionError:
        problems.append(f"{source}: nested too deeply")
    # The cross-field checks read the raw data, so that they are reported together
    # with the per-field problems instead of only after those are fixed.
    passwords = _Passwords(environ)
    problems.extend(_cross_checks(data, source, node, passwords))
    if problems or raw is None:
        raise ConfigError(list(dict.fromkeys(problems)))
    return _settings(raw, passwords)


def _settings(raw: _Config, passwords: _Passwords) -> Settings:
    tenants = []
    for tenant in raw.tenants:
        creds = tenant if _has_password_source(tenant) else raw.identity
        regions = tenant.regions if tenant.regions is not None else raw.regions
        tenants.append(
            TenantSpec(
                id=tenant.id,
                name=tenant.name,
                regions=None if regions is None else tuple(regions),
                username=str(tenant.username or raw.identity.username),
                password=passwords.value(creds.password_file, creds.password_env),
            )
        )
    return Settings(
        identity_url=raw.identity.url,
        tenants=tuple(tenants),
        endpoints=dict(raw.endpoints),
        poll=PollSettings(
            interval=raw.poll.interval,
            timeout=raw.poll.timeout,
            concurrency=raw.poll.concurrency,
            stale_after=raw.poll.stale_after,
        ),
    )


def _has_password_source(creds: _Credentials | Mapping[str, Any]) -> bool:
    if isinstance(creds, Mapping):
        return creds.get("password_file") is not None or creds.get("password_env") is not None
    return creds.password_file is not None or creds.password_env is not None


class _Passwords:
    """Reads each password source once; remembers values and failures."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._read: dict[tuple[str, str], Secret | str] = {}

    def read(self, file: object, env: object) -> str:
        """ "" if the source gives a usable password, else why not."""
        key = (str(file or ""), str(env or ""))
        if key not in self._read:
            self._read[key] = self._load(*key)
        found = self._read[key]
        return "" if isinstance(found, Secret) else found

    def value(self, file: object, env: object) -> Secret:
        found = self._read[(str(file or ""), str(env or ""))]
        assert isinstance(found, Secret)
        return found

    def _load(self, file: str, env: str) -> Secret | str:
        if file:
            try:
                value = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return f"cannot read {file}: {_os_reason(exc)}"
            # Files written by editors and `echo` end with a newline that is not part of it.
            value = value.rstrip("\r\n")
            if not value.strip():
                return f"{file} is empty"
            return Secret(value)
        value = self._environ.get(env, "")
        if not value.strip():
            return f"environment variable {env} is not set or empty"
        return Secret(value)


def _cross_checks(
    data: Mapping[str, Any], source: str, node: yaml.Node | None, passwords: _Passwords
) -> list[str]:
    """Checks across fields, and reading the passwords, on the raw (unvalidated) data."""
    problems: list[str] = []

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(f"{_where(source, node, loc)}: {_dotted(loc)}: {message}")

    raw_identity, raw_tenants = data.get("identity"), data.get("tenants")
    identity: dict[str, Any] = raw_identity if isinstance(raw_identity, dict) else {}
    tenants: list[Any] = raw_tenants if isinstance(raw_tenants, list) else []
    regions = data.get("regions")
    global_regions = (
        {r.strip().lower() for r in regions if isinstance(r, str)}
        if isinstance(regions, list)
        else None
    )
    for where, creds in [(("identity",), identity)] + [
        (("tenants", i), t) for i, t in enumerate(tenants) if isinstance(t, dict)
    ]:
        if creds.get("password_file") is not None and creds.get("password_env") is not None:
            problem(where, "set only one of password_file / password_env")
    seen: set[str] = set()
    for index, tenant in enumerate(tenants):
        if not isinstance(tenant, dict):
            continue
        loc: tuple[str | int, ...] = ("tenants", index)
        tenant_id = tenant.get("id")
        if isinstance(tenant_id, str):
            if tenant_id in seen:
                problem((*loc, "id"), f"tenant {tenant_id!r} is listed twice")
            seen.add(tenant_id)
        own_regions = tenant.get("regions")
        if global_regions is not None and isinstance(own_regions, list):
            for region in own_regions:
                if isinstance(region, str) and region.strip().lower() not in global_regions:
                    problem(
                        (*loc, "regions"), f"region {region!r} is not in the global regions list"
                    )
        if tenant.get("username") is None and identity.get("username") is None:
            problem(loc, "no username: set identity.username or this tenant's username")
        own = _has_password_source(tenant)
        creds, creds_loc = (tenant, loc) if own else (identity, ("identity",))
        if not _has_password_source(creds):
            problem(creds_loc, "set one of password_file / password_env")
            continue
        file, env = creds.get("password_file"), creds.get("password_env")
        if file is not None and env is not None:
            continue  # reported above
        if not isinstance(file, str | None) or not isinstance(env, str | None):
            continue  # a type error, reported by the per-field pass
        reason = passwords.read(file, env)
        if reason:
            problem((*creds_loc, "password_file" if file else "password_env"), reason)
    return problems


def duplicate_keys(source: str, node: yaml.Node | None) -> list[str]:
    """YAML lets a later key silently replace an earlier one; in a config that hides
    mistakes, so it is an error."""
    problems: list[tuple[int, int, str]] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        mark = key.start_mark
                        problems.append((mark.line + 1, mark.column + 1, key.value))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return [f"{source}:{line}:{col}: {key}: duplicate key" for line, col, key in sorted(problems)]


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _describe(source: str, node: yaml.Node | None, error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    message = str(error["msg"])
    # Pydantic prefixes messages of our own ValueErrors; the location says enough.
    message = message.removeprefix("Value error, ")
    unknown = error["type"] == "extra_forbidden"
    if unknown:
        message = "unknown key"
    return f"{_where(source, node, loc, at_key=unknown)}: {_dotted(loc)}: {message}"


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _where(
    source: str, node: yaml.Node | None, loc: Sequence[str | int], at_key: bool = False
) -> str:
    """``file:line:column`` of the deepest YAML node that ``loc`` reaches (of the key
    itself with ``at_key``, for unknown keys)."""
    found = node
    for index, part in enumerate(loc):
        child = _child(found, part, at_key and index == len(loc) - 1)
        if child is None:
            break
        found = child
    if found is None:
        return source
    mark = found.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def _child(node: yaml.Node | None, part: str | int, key: bool) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node if key else value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if 0 <= part < len(node.value) else None
    return None
