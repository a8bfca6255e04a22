"""``--web.config.file``: TLS and basic auth, in the Prometheus exporter-toolkit format.

Supported: ``tls_server_config`` (``cert_file``, ``key_file``, ``client_ca_file``,
``client_auth_type``, ``min_version``) and ``basic_auth_users`` (bcrypt hashes).
Relative file paths are relative to the web config file, as in exporter-toolkit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from .config import ConfigError, duplicate_keys

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    # Python's ssl module cannot request a certificate without verifying it, so the
    # "any certificate" types verify against client_ca_file too (stricter, never looser).
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version"}
_CACHE_SIZE = 1024


@dataclass
class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is slow on purpose (tens of ms); a scrape every few seconds with the same
    credentials would pay that each time, so successful checks are remembered by a
    keyed hash of the header (never the password itself).
    """

    users: Mapping[str, bytes]
    # Checked for unknown users, so that they cost as much time as known ones and
    # timing does not reveal which user names exist.
    _dummy: bytes = field(default_factory=lambda: bcrypt.hashpw(b"-", bcrypt.gensalt(10)))
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _ok: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, header: str | None) -> bool:
        """True for valid credentials; False for anything else, however malformed."""
        header = header or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":  # the scheme is case-insensitive (RFC 7617)
            return False
        digest = hmac.new(self._key, header.encode("utf-8", "replace"), hashlib.sha256).digest()
        with self._lock:
            if digest in self._ok:
                return True
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            user, sep, password = decoded.partition(":")
            hashed = self.users.get(user)
            # bcrypt refuses passwords over 72 bytes with ValueError: a wrong password.
            ok = bool(sep) and bcrypt.checkpw(password.encode(), hashed or self._dummy)
        except (binascii.Error, ValueError):  # also non-ASCII base64, bad UTF-8
            return False
        ok = ok and hashed is not None
        if ok:
            with self._lock:
                if len(self._ok) >= _CACHE_SIZE:
                    self._ok.clear()
                self._ok.add(digest)
        return ok


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    auth: BasicAuth | None = None


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate the web config; raise ConfigError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc.__class__.__name__}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    data = {} if data is None else data
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping"])
    for key, value in data.items():
        if key not in {"tls_server_config", "basic_auth_users"}:
            problems.append(f"{source}: {key}: unknown or unsupported key")
        elif value is None:
            # A key with nothing under it is a truncated file, not "no TLS".
            problems.append(f"{source}: {key}: is empty")
    problems.extend(duplicate_keys(source, yaml.compose(text, Loader=yaml.SafeLoader)))
    base = Path(path).parent
    context = _tls(data.get("tls_server_config"), base, source, problems)
    auth = _users(data.get("basic_auth_users"), source, problems)
    if problems:
        raise ConfigError(problems)
    return WebConfig(context, auth)


def _tls(raw: Any, base: Path, source: str, problems: list[str]) -> ssl.SSLContext | None:
    if raw is None:
        return None
    where = f"{source}: tls_server_config"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    for key in raw:
        if key not in _TLS_KEYS:
            problems.append(f"{where}.{key}: unknown or unsupported key")
    cert, key = raw.get("cert_file"), raw.get("key_file")
    if not cert or not key:
        problems.append(f"{where}: cert_file and key_file are both required")
        return None
    auth_type = raw.get("client_auth_type", "NoClientCert")
    if auth_type not in _CLIENT_AUTH:
        problems.append(f"{where}.client_auth_type: must be one of {', '.join(_CLIENT_AUTH)}")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    version = raw.get("min_version")
    if version is not None:
        if version not in _TLS_VERSIONS:
            problems.append(f"{where}.min_version: must be one of {', '.join(_TLS_VERSIONS)}")
        else:
            context.minimum_version = _TLS_VERSIONS[version]
    missing = [
        f"{name} {base / str(raw[name])}"
        for name in ("cert_file", "key_file")
        if not (base / str(raw[name])).is_file()
    ]
    if missing:
        problems.append(f"{where}: no such file: {', '.join(missing)}")
    else:
        try:
            context.load_cert_chain(base / str(cert), base / str(key))
        except (OSError, ssl.SSLError) as exc:
            problems.append(
                f"{where}: cert_file and key_file are not a matching PEM certificate and key "
                f"({_reason(exc)})"
            )
    context.verify_mode = _CLIENT_AUTH[auth_type]
    ca = raw.get("client_ca_file")
    if ca and "client_auth_type" not in raw:
        # As exporter-toolkit: a CA without a policy would silently mean "no mTLS".
        problems.append(f"{where}: client_ca_file is set without a client_auth_type")
    if context.verify_mode != ssl.CERT_NONE and not ca:
        problems.append(f"{where}: client_auth_type {auth_type} needs client_ca_file")
    if ca:
        try:
            context.load_verify_locations(base / str(ca))
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{where}.client_ca_file: cannot load: {_reason(exc)}")
    return context


def _users(raw: Any, source: str, problems: list[str]) -> BasicAuth | None:
    if raw is None:
        return None
    where = f"{source}: basic_auth_users"
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: must be a mapping of user name to bcrypt hash")
        return None
    users: dict[str, bytes] = {}
    for user, hashed in raw.items():
        if not isinstance(hashed, str):
            problems.append(f"{where}.{user}: must be a bcrypt hash string")
            continue
        # The hash itself is never echoed: it is a secret of sorts too. A cost above 16
        # would make every scrape (and the start) hang for seconds to hours.
        form = _BCRYPT.fullmatch(hashed)
        if not form or not 4 <= int(form.group(1)) <= 16:
            problems.append(f"{where}.{user}: not a bcrypt hash of cost 4 to 16 (60 characters)")
            continue
        users[str(user)] = hashed.encode()
    return BasicAuth(users)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
