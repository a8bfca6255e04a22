"""Shared test helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def guide_json(name: str) -> Any:
    """A JSON example copied verbatim from the official API guide."""
    return json.loads((FIXTURES / "guide" / name).read_text())
