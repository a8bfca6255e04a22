"""Scrape cost at fleet scale: igw-exporter's /metrics against serving a static file.

Run: .venv/bin/python -m bench.scrape [--gateways 50000] [--rounds 15]

Three servers on 127.0.0.1 serve the same exposition side by side, scraped in turns:
  static   - http.server serving the exposition bytes as a file (the floor)
  exporter - igw-exporter's server: pre-rendered snapshot + live self-metrics
  naive    - prometheus_client's own server with a collector that rebuilds every
             gateway family on each scrape (what the design avoids)
Prints medians and ratios to the static file, plain and gzip.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory

import requests
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from igw_exporter.exposition import render
from igw_exporter.metrics import SelfMetrics
from igw_exporter.models import (
    MIGRATE_STATUSES,
    STATES,
    Gateway,
    Observation,
    Snapshot,
    TargetKey,
    TargetStatus,
)
from igw_exporter.server import App, HttpServer
from igw_exporter.store import Store

NOW = time.time()


def fleet(gateways: int, regions: int = 3, tenants: int = 10) -> Snapshot:
    per_target = max(1, gateways // (regions * tenants))
    targets = {}
    n = 0
    for r in range(regions):
        for t in range(tenants):
            key = TargetKey(f"kr{r + 1}", f"{t:032x}")
            observations = {}
            for i in range(per_target):
                gid = f"{n:08x}-0000-4000-8000-{i:012x}"
                gw = Gateway(
                    gid,
                    f"igw-{r}-{t}-{i}",
                    key.tenant_id,
                    "ext-net",
                    f"rt-{i}",
                    STATES[n % 4],
                    MIGRATE_STATUSES[n % 5],
                    "",
                    NOW - 86400 * (n % 700),
                )
                observations[gid] = Observation(gw, NOW - 3600)
                n += 1
            targets[key] = TargetStatus(
                key, f"tenant-{t}", True, "", NOW, 0.4, observations, ever_succeeded=True
            )
    return Snapshot(NOW, targets, 1)


class NaiveCollector(Collector):
    """Every gateway family rebuilt per scrape, as a plain client_python collector would."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["nhn_region", "tenant_id", "id", "name"]
        state = GaugeMetricFamily("nhncloud_igw_state", "state", labels=[*labels, "state"])
        migrate = GaugeMetricFamily(
            "nhncloud_igw_migrate_status", "ms", labels=[*labels, "migrate_status"]
        )
        info = GaugeMetricFamily(
            "nhncloud_igw_info",
            "info",
            labels=[*labels, "tenant", "external_network_id", "routingtable_id"],
        )
        simple = {
            name: GaugeMetricFamily(name, name, labels=labels)
            for name in (
                "nhncloud_igw_migrate_error",
                "nhncloud_igw_created_timestamp_seconds",
                "nhncloud_igw_age_seconds",
                "nhncloud_igw_state_since_timestamp_seconds",
            )
        }
        for t in self.snapshot.targets.values():
            for o in t.observations.values():
                g = o.gateway
                base = [t.key.region, t.key.tenant_id, g.id, g.name]
                info.add_metric([*base, t.tenant_name, g.external_network_id, g.routingtable_id], 1)
                for s in STATES:
                    state.add_metric([*base, s], 1 if s == g.state else 0)
                for s in MIGRATE_STATUSES:
                    migrate.add_metric([*base, s], 1 if s == g.migrate_status else 0)
                simple["nhncloud_igw_migrate_error"].add_metric(base, 1 if g.migrate_error else 0)
                simple["nhncloud_igw_created_timestamp_seconds"].add_metric(
                    base, g.create_time or 0
                )
                simple["nhncloud_igw_age_seconds"].add_metric(base, NOW - (g.create_time or 0))
                simple["nhncloud_igw_state_since_timestamp_seconds"].add_metric(base, o.state_since)
        yield from (info, state, migrate, *simple.values())


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--naive-rounds", type=int, default=3)
    args = parser.parse_args()

    snapshot = fleet(args.gateways)
    count = sum(len(t.observations) for t in snapshot.targets.values())
    renders = [timed(lambda: render(snapshot)) for _ in range(3)]
    store = Store()
    publish = [timed(lambda: store.publish(snapshot)) for _ in range(3)]
    metrics = SelfMetrics()
    exporter = HttpServer("127.0.0.1:0", App(store, metrics.registry, "/metrics"))
    exporter.start()

    naive_registry = CollectorRegistry()
    naive_registry.register(NaiveCollector(snapshot))
    naive_server, _ = start_http_server(0, addr="127.0.0.1", registry=naive_registry)
    naive_port = naive_server.server_address[1]

    with TemporaryDirectory() as tmp:
        body = store.current.body.data
        Path(tmp, "metrics").write_bytes(body)
        static = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=tmp)
        )
        static.log_message = lambda *a: None  # type: ignore[method-assign]
        SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
        threading.Thread(target=static.serve_forever, daemon=True).start()

        session = requests.Session()
        urls = {
            "static": f"http://127.0.0.1:{static.server_address[1]}/metrics",
            "exporter": f"http://127.0.0.1:{exporter.port}/metrics",
            "naive": f"http://127.0.0.1:{naive_port}/metrics",
        }
        results: dict[tuple[str, str], list[float]] = {}
        sizes: dict[tuple[str, str], int] = {}
        for encoding in ("identity", "gzip"):
            for round_ in range(args.rounds):
                for name, url in urls.items():
                    if name == "naive" and round_ >= args.naive_rounds:
                        continue
                    if name == "static" and encoding == "gzip":
                        continue  # http.server does not compress

                    key = (name, encoding)
                    headers = {"Accept-Encoding": encoding}
                    start = time.perf_counter()
                    response = session.get(url, headers=headers, timeout=120, stream=True)
                    sizes[key] = len(response.raw.read())
                    results.setdefault(key, []).append(time.perf_counter() - start)
        static.shutdown()
    exporter.stop()
    naive_server.shutdown()

    floor = statistics.median(results[("static", "identity")])
    print(
        f"# {count} gateways, {len(body) / 1e6:.1f} MB exposition; "
        f"Python {platform.python_version()} on {platform.machine()}"
    )
    print(
        f"render once per poll: median {statistics.median(renders) * 1000:.0f} ms; "
        f"render + deflate (publish): median {statistics.median(publish) * 1000:.0f} ms"
    )
    print(
        f"{'server':<10} {'encoding':<9} {'rounds':>6} {'median ms':>10} {'x static':>9} "
        f"{'bytes':>11}"
    )
    for (name, encoding), samples in results.items():
        median = statistics.median(samples)
        print(
            f"{name:<10} {encoding:<9} {len(samples):>6} {median * 1000:>10.1f} "
            f"{median / floor:>9.2f} {sizes[(name, encoding)]:>11}"
        )


if __name__ == "__main__":
    main()
