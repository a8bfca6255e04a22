"""Command line: the daemon (default), ``demo`` and ``simulator``."""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .app import Exporter, block_signals, wait_for_stop
from .config import ConfigError, PollSettings, Settings, TenantSpec, load_config
from .log import LEVELS, Redactor, configure, get_logger
from .secret import Secret
from .server import ListenAddressError
from .webconfig import WebConfig, load_web_config

DEFAULT_LISTEN = ":9936"
DEMO_POLL_INTERVAL = 10.0


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=DEFAULT_LISTEN,
        help="address to serve metrics on (default %(default)s)",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path of the metrics endpoint (default %(default)s)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="TLS and basic auth (Prometheus exporter-toolkit format)",
    )
    parser.add_argument("--log.level", dest="log_level", choices=LEVELS, default="info")
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=("json", "console"),
        default=None,
        help="default: json, or console when stderr is a terminal",
    )


def _daemon_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="igw-exporter",
        description="Prometheus exporter for NHN Cloud Internet Gateways. "
        "Subcommands: 'demo' (simulator + exporter, no cloud account needed), "
        "'simulator' (the fake NHN Cloud API alone).",
    )
    parser.add_argument("--config.file", dest="config_file", help="YAML configuration file")
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration, list every problem, exit 0 or 1",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="poll once, print the exposition, exit 0 if every target succeeded",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _common_flags(parser)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if not args.telemetry_path.startswith("/"):
        parser.error("--web.telemetry-path must start with /")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "demo":
        return demo(args[1:])
    if args and args[0] == "simulator":
        from .simulator.__main__ import main as simulator_main

        return simulator_main(args[1:])
    return daemon(args)


def daemon(argv: Sequence[str]) -> int:
    parser = _daemon_parser()
    args = _parse(parser, argv)
    if args.version:
        print(f"igw-exporter {__version__} (python {platform.python_version()})")
        return 0
    if not args.config_file:
        parser.error("--config.file is required (or run 'igw-exporter demo')")
    redactor = Redactor()
    configure(args.log_level, _log_format(args.log_format), redactor)
    problems: list[str] = []
    settings = web = None
    try:
        settings = load_config(args.config_file)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        web = load_web_config(args.web_config_file) if args.web_config_file else None
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or settings is None:
        _print_problems(problems)
        return 1
    if args.config_check:
        regions = "from the catalog" if any(t.regions is None for t in settings.tenants) else ""
        print(
            f"{args.config_file}: OK: {_plural(len(settings.tenants), 'tenant')}, "
            f"poll every {settings.poll.interval:g}s" + (f", regions {regions}" if regions else ""),
        )
        return 0
    exporter = Exporter(settings, redactor, Path(args.config_file))
    if args.once:
        exporter.run_cycle()
        sys.stdout.buffer.write(exporter.exposition())
        sys.stdout.flush()
        return 0 if exporter.all_up() else 1
    return _serve(exporter, args.listen, args.telemetry_path, web)


def _print_problems(problems: Sequence[str]) -> None:
    count = _plural(len(problems), "problem")
    print(f"igw-exporter: invalid configuration ({count}):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _serve(
    exporter: Exporter, listen: str, telemetry_path: str, web: WebConfig | None = None
) -> int:
    block_signals()
    try:
        exporter.serve(listen, telemetry_path, lambda: wait_for_stop(exporter.reload), web)
    except (OSError, ListenAddressError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        get_logger().error("listen_failed", listen_address=listen, error=reason)
        print(f"igw-exporter: cannot listen on {listen}: {reason}", file=sys.stderr)
        return 1
    get_logger().info("exporter_stopped")
    _exit_now(0)
    return 0


def _exit_now(code: int) -> None:
    """Exit without waiting for poll threads stuck on a slow upstream: their work is
    lost anyway, and SIGTERM must end the process within seconds."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _log_format(choice: str | None) -> str:
    if choice:
        return choice
    return "console" if sys.stderr.isatty() else "json"


def demo(argv: Sequence[str]) -> int:
    """The simulator with a demo fleet that changes over time, and the exporter on it."""
    from .simulator import Simulator
    from .simulator.fleet import DEMO_TENANTS, FleetDriver, populate_demo_fleet

    parser = argparse.ArgumentParser(
        prog="igw-exporter demo",
        description="Run the exporter against the built-in NHN Cloud simulator.",
    )
    _common_flags(parser)
    parser.add_argument(
        "--poll.interval",
        dest="interval",
        type=float,
        default=DEMO_POLL_INTERVAL,
        help="seconds between polls (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fleet's changes")
    parser.add_argument(
        "--change-period",
        dest="change_period",
        type=float,
        default=5.0,
        help="seconds between simulated gateway changes (default %(default)s)",
    )
    args = _parse(parser, argv)
    redactor = Redactor()
    configure(args.log_level, _log_format(args.log_format), redactor)
    try:
        web = load_web_config(args.web_config_file) if args.web_config_file else None
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    rng = random.Random(args.seed)  # noqa: S311 - a demo, not cryptography
    simulator = Simulator()
    populate_demo_fleet(simulator, rng)
    block_signals()  # before any thread starts: threads inherit the mask
    simulator.start()
    driver = FleetDriver(simulator, rng, period=args.change_period)
    driver.start()
    settings = Settings(
        identity_url=simulator.identity_url,
        tenants=tuple(
            TenantSpec(
                id=t.tenant_id,
                name=t.name,
                regions=None,
                username=t.username,
                password=Secret(t.password),
            )
            for t in DEMO_TENANTS
        ),
        endpoints={},
        poll=PollSettings(interval=max(1.0, args.interval), timeout=5.0, stale_after=60.0),
    )
    exporter = Exporter(settings, redactor)
    host = args.listen.rpartition(":")[0].strip("[]") or "localhost"
    port = args.listen.rpartition(":")[2]
    print(
        "igw-exporter demo: simulated NHN Cloud at "
        f"{simulator.identity_url} ({len(DEMO_TENANTS)} tenants)\n"
        f"  metrics:      http://{host}:{port}{args.telemetry_path}\n"
        f"  status page:  http://{host}:{port}/\n"
        "  stop with Ctrl-C",
        file=sys.stderr,
        flush=True,
    )
    return _serve(exporter, args.listen, args.telemetry_path, web)
