"""Prometheus exporter for NHN Cloud Internet Gateways."""

__version__ = "0.1.0"
