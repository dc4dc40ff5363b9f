"""Exceptions and the ``Weird`` record shared by every decoding stage.

Decoders raise only the :class:`DecodeError` family for bad bytes; the pipeline turns
those into :class:`Weird` rows and goes on, so one corrupt packet never stops an analysis.
"""

from __future__ import annotations

from dataclasses import dataclass


class AnalyzerError(Exception):
    """Base class for errors the analyzer reports to the user without a traceback."""


class CaptureError(AnalyzerError):
    """The input is not a usable capture (missing, empty, unknown format, unreadable header)."""


class DecodeError(AnalyzerError):
    """Bytes that a decoder cannot make sense of.

    >>> try:
    ...     raise Truncated("need 4 bytes, have 2", offset=10)
    ... except DecodeError as e:
    ...     e.offset
    10
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class Truncated(DecodeError):
    """The data ends before a length or field it announced."""


class Malformed(DecodeError):
    """The data is complete but violates the format (bad length, bad value, loop)."""


@dataclass(frozen=True, slots=True)
class Weird:
    """One anomaly seen while decoding: the capture goes on, the anomaly is reported.

    ``name`` is a stable snake_case identifier (counted in ``summary --json`` under
    ``weird``); ``detail`` is free text for humans.

    >>> Weird("tcp_reassembly_gap", frame=12, flow=3, detail="1448 bytes missing")
    Weird(name='tcp_reassembly_gap', frame=12, flow=3, detail='1448 bytes missing', offset=None)
    """

    name: str
    frame: int | None = None
    flow: int | None = None
    detail: str = ""
    offset: int | None = None
