"""analyzer: why will this IP desk phone not sign in? Answers from a packet capture.

>>> import analyzer
>>> analyzer.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
