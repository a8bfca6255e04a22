"""All mutable simulator state behind one lock.

Records are treated as immutable once stored: an update replaces the dict
instead of mutating it. A request handler can therefore take a list of record
references under the lock and serialise it afterwards without the lock (a 50k
list takes a while to encode) and without racing the fleet driver.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from igw_exporter.simulator.faults import Fault
from igw_exporter.simulator.records import Record, new_uuid

TOKENS_PATH = "/v2.0/tokens"


@dataclass
class TokenRecord:
    token_id: str
    tenant_id: str
    username: str
    issued_at: float
    expires_at: float
    revoked: bool = False


def new_token_id() -> str:
    # Fernet-like and long (~180 chars): clients must not assume a length.
    return "gAAAAA" + secrets.token_urlsafe(130)


def copy_record(record: Record) -> Record:
    # Deep-copy only nested values: cheap for the usual all-scalar record.
    return {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in record.items()}


class SimState:
    def __init__(self, regions: Iterable[str], token_lifetime: float, page_size: int | None):
        self.lock = threading.Lock()
        self.regions: tuple[str, ...] = tuple(r.lower() for r in regions)
        self.token_lifetime = token_lifetime
        self.page_size = page_size
        # The shared "Public Network" each region's gateways attach to.
        self.admin_tenant_id = secrets.token_hex(16)
        self.external_networks: dict[str, str] = {r: new_uuid() for r in self.regions}
        self._passwords: dict[tuple[str, str], str] = {}
        self._tenant_names: dict[str, str] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._issued: list[str] = []
        # region -> tenant -> gateway id -> record, plus region -> id -> tenant
        # so per-tenant lists never scan other tenants' (possibly 50k) gateways.
        self._gateways: dict[str, dict[str, dict[str, Record]]] = {r: {} for r in self.regions}
        self._owner: dict[str, dict[str, str]] = {r: {} for r in self.regions}
        self._faults: list[Fault] = []
        self._requests: Counter[tuple[str, str]] = Counter()
        self._token_requests: Counter[str | None] = Counter()

    def region(self, name: str) -> str:
        key = name.lower()
        if key not in self._gateways:
            raise KeyError(f"unknown region {name!r} (known: {', '.join(self.regions)})")
        return key

    # ----- users and tokens -----

    def add_user(self, tenant_id: str, username: str, password: str, tenant_name: str) -> None:
        with self.lock:
            self._passwords[(tenant_id, username)] = password
            if tenant_name or tenant_id not in self._tenant_names:
                self._tenant_names[tenant_id] = tenant_name or tenant_id

    def remove_user(self, tenant_id: str, username: str) -> None:
        with self.lock:
            self._passwords.pop((tenant_id, username), None)

    def tenant_name(self, tenant_id: str) -> str:
        with self.lock:
            return self._tenant_names.get(tenant_id, tenant_id)

    def authenticate(self, tenant_id: str, username: str, password: str) -> TokenRecord | str:
        """Issue a token, or return why not (the 401 message)."""
        with self.lock:
            if tenant_id not in self._tenant_names:
                return f"Could not find project: {tenant_id}."
            expected = self._passwords.get((tenant_id, username))
            if expected is None or not secrets.compare_digest(expected, password):
                return "The request you have made requires authentication."
            now = time.time()
            token = TokenRecord(new_token_id(), tenant_id, username, now, now + self.token_lifetime)
            self._tokens[token.token_id] = token
            self._issued.append(token.token_id)
            return token

    def token_tenant(self, token_id: str | None) -> str | None:
        """Tenant of a token whether or not it is still valid (for fault matching)."""
        if not token_id:
            return None
        with self.lock:
            token = self._tokens.get(token_id)
            return token.tenant_id if token else None

    def valid_token_tenant(self, token_id: str | None) -> str | None:
        if not token_id:
            return None
        with self.lock:
            token = self._tokens.get(token_id)
            if token is None or token.revoked or time.time() >= token.expires_at:
                return None
            return token.tenant_id

    def revoke_tokens(self, tenant_id: str | None) -> None:
        with self.lock:
            for token in self._tokens.values():
                if tenant_id is None or token.tenant_id == tenant_id:
                    token.revoked = True

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self._issued)

    # ----- request accounting and faults -----

    def record_request(self, service: str, method: str, path: str, tenant_id: str | None) -> None:
        with self.lock:
            self._requests[(service, path)] += 1
            if service == "identity" and method == "POST" and path == TOKENS_PATH:
                self._token_requests[tenant_id] += 1

    def request_count(self, service: str, path_prefix: str) -> int:
        key = service.lower()
        with self.lock:
            return sum(
                n for (svc, path), n in self._requests.items()
                if svc == key and path.startswith(path_prefix)
            )  # fmt: skip

    def token_requests(self, tenant_id: str | None) -> int:
        with self.lock:
            if tenant_id is None:
                return sum(self._token_requests.values())
            return self._token_requests[tenant_id]

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self._faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> None:
        with self.lock:
            # By identity; removing an unknown or already removed fault is a no-op.
            self._faults = [f for f in self._faults if f is not fault]

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(
        self, service: str, method: str, path: str, tenant_id: str | None
    ) -> Fault | None:
        """First live matching fault, counted as served (atomically)."""
        with self.lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(service, method, path, tenant_id):
                    fault.served += 1
                    return fault
        return None

    # ----- gateways -----

    def insert_gateways(self, region: str, records: Iterable[Record]) -> None:
        """Store new records (taken over, not copied); ids must be new."""
        key = self.region(region)
        with self.lock:
            buckets = self._gateways[key]
            owner = self._owner[key]
            for record in records:
                gateway_id = str(record["id"])
                if gateway_id in owner:
                    raise ValueError(f"gateway {gateway_id} already exists in {key}")
                tenant = str(record.get("tenant_id"))
                buckets.setdefault(tenant, {})[gateway_id] = record
                owner[gateway_id] = tenant

    def get_gateway(self, region: str, gateway_id: str) -> Record | None:
        key = self.region(region)
        with self.lock:
            tenant = self._owner[key].get(gateway_id)
            if tenant is None:
                return None
            return self._gateways[key][tenant][gateway_id]

    def list_gateways(self, region: str, tenant_id: str) -> list[Record]:
        """References to the (immutable) records of one tenant, insertion order."""
        key = self.region(region)
        with self.lock:
            return list(self._gateways[key].get(tenant_id, {}).values())

    def all_gateways(self, region: str) -> list[Record]:
        key = self.region(region)
        with self.lock:
            return [rec for bucket in self._gateways[key].values() for rec in bucket.values()]

    def update_gateway(
        self, region: str, gateway_id: str, fields: dict[str, Any], drop: Iterable[str] = ()
    ) -> Record:
        key = self.region(region)
        fields = copy.deepcopy(fields)
        with self.lock:
            old_tenant = self._owner[key].get(gateway_id)
            if old_tenant is None:
                raise KeyError(f"unknown gateway {gateway_id} in {key}")
            record = {**self._gateways[key][old_tenant][gateway_id], **fields}
            for name in drop:
                record.pop(name, None)
            new_tenant = str(record.get("tenant_id"))
            new_id = str(record.get("id"))
            if new_id == gateway_id and new_tenant == old_tenant:
                # Replace in place: keeps the list order (and pagination) stable.
                self._gateways[key][old_tenant][gateway_id] = record
                return record
            # A changed id or tenant_id moves the record so lookups stay right.
            if new_id != gateway_id and new_id in self._owner[key]:
                raise ValueError(f"gateway {new_id} already exists in {key}")
            del self._gateways[key][old_tenant][gateway_id]
            del self._owner[key][gateway_id]
            self._gateways[key].setdefault(new_tenant, {})[new_id] = record
            self._owner[key][new_id] = new_tenant
            return record

    def delete_gateway(self, region: str, gateway_id: str) -> bool:
        key = self.region(region)
        with self.lock:
            tenant = self._owner[key].pop(gateway_id, None)
            if tenant is None:
                return False
            del self._gateways[key][tenant][gateway_id]
            return True
