"""The :class:`Simulator` facade: servers, state and the Python control API."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from igw_exporter.simulator.api import IdentityApp, NetworkApp, RegionCase
from igw_exporter.simulator.faults import Fault
from igw_exporter.simulator.records import (
    Record,
    default_name,
    format_create_time,
    gateway_record,
    new_uuid,
)
from igw_exporter.simulator.servers import Listener
from igw_exporter.simulator.state import SimState, copy_record


class Simulator:
    """An in-process NHN Cloud identity + network API on 127.0.0.1.

    All methods are thread-safe. Region names are case-insensitive.
    """

    def __init__(
        self,
        regions: Iterable[str] = ("kr1", "kr2", "jp1"),
        token_lifetime: float = 43200.0,
        catalog_region_case: RegionCase = "upper",
        trailing_slash: bool = True,
        page_size: int | None = None,
        host: str = "127.0.0.1",
        *,
        identity_port: int = 0,
        region_ports: Mapping[str, int] | None = None,
        advertise_host: str | None = None,
        verbose: bool = False,
    ) -> None:
        region_list = [r.lower() for r in regions]
        if not region_list or len(set(region_list)) != len(region_list):
            raise ValueError("regions must be non-empty and unique")
        if catalog_region_case not in ("upper", "lower"):
            raise ValueError("catalog_region_case must be 'upper' or 'lower'")
        _check_page_size(page_size)
        self._state = SimState(region_list, token_lifetime, page_size)
        advertised = advertise_host or host
        ports = {k.lower(): v for k, v in (region_ports or {}).items()}
        self._regions: dict[str, Listener] = {
            r: Listener(
                NetworkApp(self._state, r), self._state, host, ports.get(r, 0), advertised, verbose
            )
            for r in region_list
        }
        self._identity_app = IdentityApp(
            self._state, self._network_urls, catalog_region_case, trailing_slash
        )
        self._identity = Listener(
            self._identity_app, self._state, host, identity_port, advertised, verbose
        )
        self._reachable: dict[str, bool] = dict.fromkeys(region_list, True)
        self._started = False
        # Serialises start/stop/reachability. Separate from the state lock,
        # which must never be held while servers shut down (that can wait).
        self._lifecycle = threading.Lock()

    # ----- lifecycle -----

    def start(self) -> None:
        with self._lifecycle:
            if self._started:
                return
            try:
                # Regions first: the identity catalog needs their ports.
                for listener in self._regions.values():
                    listener.start()
                self._identity.start()
            except BaseException:
                self._stop_all()
                raise
            self._started = True
            for region, reachable in self._reachable.items():
                if not reachable:
                    self._regions[region].stop()

    def stop(self) -> None:
        """Stop all servers; returns promptly even with hanging requests."""
        with self._lifecycle:
            self._stop_all()

    def _stop_all(self) -> None:
        self._identity.stop()
        for listener in self._regions.values():
            listener.stop()
        self._started = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_region_reachable(self, region: str, reachable: bool) -> None:
        """False: close the region's listener (and its live connections) so
        connections are refused; True: listen again on the same port."""
        key = self._state.region(region)
        with self._lifecycle:
            self._reachable[key] = reachable
            if not self._started:
                return
            if reachable:
                self._regions[key].start()
            else:
                self._regions[key].stop()

    # ----- addresses and settings -----

    @property
    def regions(self) -> tuple[str, ...]:
        return self._state.regions

    @property
    def identity_url(self) -> str:
        """Base URL of the identity service, without ``/v2.0``."""
        return self._identity.url

    def endpoint(self, region: str) -> str:
        """Network API base URL of ``region``, without a trailing slash."""
        return self._regions[self._state.region(region)].url

    def _network_urls(self) -> dict[str, str]:
        return {r: listener.url for r, listener in self._regions.items()}

    def external_network_id(self, region: str) -> str:
        """Id of the region's "Public Network" (what gateways attach to)."""
        return self._state.external_networks[self._state.region(region)]

    @property
    def page_size(self) -> int | None:
        return self._state.page_size

    @page_size.setter
    def page_size(self, value: int | None) -> None:
        _check_page_size(value)
        with self._state.lock:
            self._state.page_size = value

    @property
    def token_lifetime(self) -> float:
        return self._state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        """Applies to tokens issued from now on."""
        with self._state.lock:
            self._state.token_lifetime = value

    @property
    def catalog_region_case(self) -> RegionCase:
        return self._identity_app.region_case

    @catalog_region_case.setter
    def catalog_region_case(self, value: RegionCase) -> None:
        self._identity_app.region_case = value

    @property
    def trailing_slash(self) -> bool:
        return self._identity_app.trailing_slash

    @trailing_slash.setter
    def trailing_slash(self, value: bool) -> None:
        self._identity_app.trailing_slash = value

    # ----- users and tokens -----

    def add_user(self, tenant_id: str, username: str, password: str, tenant_name: str = "") -> None:
        """Add (or re-password) a user of a tenant; call again for more tenants."""
        self._state.add_user(tenant_id, username, password, tenant_name)

    def remove_user(self, tenant_id: str, username: str) -> None:
        """The user can no longer issue tokens for that tenant (existing ones live on)."""
        self._state.remove_user(tenant_id, username)

    def revoke_tokens(self, tenant_id: str | None = None) -> None:
        self._state.revoke_tokens(tenant_id)

    def token_requests(self, tenant_id: str | None = None) -> int:
        return self._state.token_requests(tenant_id)

    def issued_tokens(self) -> list[str]:
        return self._state.issued_tokens()

    def request_count(self, service: str, path_prefix: str = "") -> int:
        return self._state.request_count(service, path_prefix)

    # ----- faults -----

    def add_fault(self, fault: Fault) -> Fault:
        return self._state.add_fault(fault)

    def remove_fault(self, fault: Fault) -> None:
        self._state.remove_fault(fault)

    def clear_faults(self) -> None:
        self._state.clear_faults()

    # ----- gateways -----

    def create_gateway(
        self,
        region: str,
        tenant_id: str,
        *,
        name: str | None = None,
        state: str = "unavailable",
        migrate_status: str = "none",
        routingtable_id: str | None = None,
        migrate_error: str | None = None,
        create_time: datetime | str | None = None,
        gateway_id: str | None = None,
        external_network_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Record:
        """Store a gateway as the list API shows it; returns a copy."""
        key = self._state.region(region)
        gid = gateway_id or new_uuid()
        record = gateway_record(
            gateway_id=gid,
            name=default_name(gid) if name is None else name,
            external_network_id=external_network_id or self._state.external_networks[key],
            tenant_id=tenant_id,
            state=state,
            migrate_status=migrate_status,
            routingtable_id=routingtable_id,
            migrate_error=migrate_error,
            create_time=format_create_time(create_time),
        )
        if extra:
            record.update(copy.deepcopy(extra))
        self._state.insert_gateways(key, [record])
        return copy_record(record)

    def insert_gateways(self, region: str, records: Iterable[Record]) -> None:
        """Bulk insert of ready-made records in one locked operation (benchmarks).

        The records are stored as given (not copied): do not mutate them after.
        """
        self._state.insert_gateways(region, records)

    def update_gateway(self, region: str, gateway_id: str, **fields: Any) -> Record:
        """Set arbitrary keys on a gateway; KeyError if it does not exist."""
        return copy_record(self._state.update_gateway(region, gateway_id, fields))

    def drop_gateway_fields(self, region: str, gateway_id: str, *names: str) -> Record:
        """Remove keys from a gateway (to test absent ``routingtable_id`` etc.)."""
        return copy_record(self._state.update_gateway(region, gateway_id, {}, drop=names))

    def delete_gateway(self, region: str, gateway_id: str) -> None:
        if not self._state.delete_gateway(region, gateway_id):
            raise KeyError(f"unknown gateway {gateway_id} in {region}")

    def gateway(self, region: str, gateway_id: str) -> Record | None:
        record = self._state.get_gateway(region, gateway_id)
        return None if record is None else copy_record(record)

    def gateways(self, region: str, tenant_id: str | None = None) -> list[Record]:
        """Copies of a tenant's gateways in ``region`` (all tenants when None)."""
        if tenant_id is None:
            records = self._state.all_gateways(region)
        else:
            records = self._state.list_gateways(region, tenant_id)
        return [copy_record(r) for r in records]


def _check_page_size(value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError("page_size must be >= 1 or None")
