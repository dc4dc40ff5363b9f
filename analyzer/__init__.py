"""analyzer: why will this IP desk phone not sign in? Answers from a packet capture.

>>> import analyzer
>>> analyzer.__version__
'0.1.0'
>>> analysis = analyzer.analyze("samples/cx700-logon-loop.pcapng")
>>> analysis.result.stats.packets, len(analysis.tls)
(3056, 16)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Analysis", "__version__", "analyze"]

if TYPE_CHECKING:
    from analyzer.api import Analysis, analyze


def __getattr__(name: str) -> Any:
    # Importing the API pulls in pandas; the CLI's fast paths should not pay for it.
    if name in ("analyze", "Analysis"):
        from analyzer import api

        return getattr(api, name)
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
