"""The protocol modules the analyzer knows, found by discovery in this package.

A module takes part by defining ``PROTOCOL = ProtocolModule(...)``; nothing else has to be
edited to add a protocol, and its tables appear in the API and as CLI commands.

>>> from analyzer.protocols.registry import protocol_modules
>>> "ntp" in {m.name for m in protocol_modules()}
True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import analyzer.protocols as package
from analyzer.protocols.base import DatagramDissector, Schema, StreamDissector

if TYPE_CHECKING:
    import pandas as pd

#: Builds derived tables from the pass's tables (all protocol tables plus conversations).
Derive = Callable[["dict[str, pd.DataFrame]"], "dict[str, pd.DataFrame]"]


@dataclass(frozen=True)
class ProtocolModule:
    """What one protocol module contributes."""

    name: str
    doc: str
    schemas: tuple[Schema, ...]
    datagram: DatagramDissector | None = None
    stream: StreamDissector | None = None
    #: Tables derived after the pass from this module's tables (e.g. DNS transactions),
    #: and the function that builds them.
    derived: tuple[Schema, ...] = field(default=())
    derive: Derive | None = None


@cache
def protocol_modules() -> tuple[ProtocolModule, ...]:
    """Every module in :mod:`analyzer.protocols` that defines ``PROTOCOL``, by name."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        proto = getattr(module, "PROTOCOL", None)
        if isinstance(proto, ProtocolModule):
            found.append(proto)
    return tuple(sorted(found, key=lambda m: m.name))


def all_schemas() -> dict[str, Schema]:
    """Every table any protocol module declares, by table name."""
    schemas: dict[str, Schema] = {}
    for module in protocol_modules():
        for schema in module.schemas + module.derived:
            schemas[schema.name] = schema
    return schemas


def module_of_table(table: str) -> ProtocolModule:
    """The protocol module that declares ``table``."""
    for module in protocol_modules():
        if any(schema.name == table for schema in module.schemas + module.derived):
            return module
    raise KeyError(table)
