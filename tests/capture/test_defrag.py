"""IP fragment reassembly: one test per behaviour, then fuzzing.

Offsets are in bytes (the IPv4 header field times 8). KEY names one datagram:
(version, src, dst, ident, proto).
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.capture.defrag import MAX_DATAGRAM, Defragmenter
from analyzer.errors import Weird

KEY = (4, "192.0.2.1", "192.0.2.2", 0x1234, 17)
OTHER = (4, "192.0.2.1", "192.0.2.2", 0x1235, 17)
UDP_HEADER = bytes.fromhex("d431003500240000")  # sport 54321, dport 53, len 36, no sum


def names(weird: list[Weird]) -> list[str]:
    return [w.name for w in weird]


def test_two_fragments_in_order_reassemble() -> None:
    d = Defragmenter()
    assert d.add(KEY, 1, 0.0, 0, True, UDP_HEADER) == (None, [])
    assert d.pending == 1 and d.buffered == 8
    whole, weird = d.add(KEY, 2, 0.0, 8, False, b"A" * 28)
    assert whole == UDP_HEADER + b"A" * 28 and weird == []
    assert d.last_frames == (1, 2) and d.pending == 0 and d.buffered == 0


def test_fragments_in_any_order_reassemble() -> None:
    d = Defragmenter()
    assert d.add(KEY, 3, 0.0, 16, False, b"CC")[0] is None
    assert d.add(KEY, 1, 0.0, 0, True, b"A" * 8)[0] is None
    whole, _ = d.add(KEY, 2, 0.0, 8, True, b"B" * 8)
    assert whole == b"A" * 8 + b"B" * 8 + b"CC"
    assert d.last_frames == (3, 1, 2)  # the completing frame is last


def test_datagrams_with_different_keys_are_independent() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"k" * 8)
    d.add(OTHER, 2, 0.0, 0, True, b"o" * 8)
    assert d.add(OTHER, 3, 0.0, 8, False, b"O")[0] == b"o" * 8 + b"O"
    assert d.pending == 1
    assert d.add(KEY, 4, 0.0, 8, False, b"K")[0] == b"k" * 8 + b"K"


def test_duplicate_fragments_are_ignored() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 8)
    assert d.add(KEY, 2, 0.0, 0, True, b"A" * 8) == (None, [])
    assert d.buffered == 8
    whole, weird = d.add(KEY, 3, 0.0, 8, False, b"B")
    assert whole == b"A" * 8 + b"B" and weird == []


def test_late_duplicate_after_completion_is_ignored() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 8)
    d.add(KEY, 2, 0.0, 8, False, b"B")
    # A SPAN port copied both fragments; the copies arrive after reassembly.
    assert d.add(KEY, 3, 0.1, 0, True, b"A" * 8) == (None, [])
    assert d.add(KEY, 4, 0.1, 8, False, b"B") == (None, [])
    assert d.pending == 0 and d.finish() == []


def test_late_copy_fragmented_differently_is_ignored() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 8)
    d.add(KEY, 2, 0.0, 8, True, b"B" * 8)
    d.add(KEY, 3, 0.0, 16, False, b"C")
    # The same datagram captured again past a router that cut it into 16 + 1 bytes.
    assert d.add(KEY, 4, 0.1, 0, True, b"A" * 8 + b"B" * 8) == (None, [])
    assert d.add(KEY, 5, 0.1, 16, False, b"C") == (None, [])
    assert d.pending == 0


def test_reused_ident_after_completion_is_a_new_datagram() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 8)
    d.add(KEY, 2, 0.0, 8, False, b"B")
    d.add(KEY, 3, 5.0, 0, True, b"X" * 8)  # same ident, different bytes
    assert d.add(KEY, 4, 5.0, 8, False, b"Y")[0] == b"X" * 8 + b"Y"


def test_identical_overlap_from_refragmentation_is_fine() -> None:
    d = Defragmenter()
    data = bytes(range(40))
    d.add(KEY, 1, 0.0, 0, True, data[:24])
    assert d.add(KEY, 2, 0.0, 16, True, data[16:32]) == (None, [])
    whole, weird = d.add(KEY, 3, 0.0, 8, False, data[8:])
    assert whole == data and weird == []


def test_overlap_with_different_bytes_is_weird_and_first_wins() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 16)
    whole, weird = d.add(KEY, 2, 0.0, 8, False, b"X" * 8 + b"tail")  # teardrop-style
    assert whole == b"A" * 16 + b"tail"
    assert names(weird) == ["ip_fragment_overlap_mismatch"]
    assert (weird[0].frame, weird[0].offset) == (2, 8)


def test_too_large_datagram_is_weird_and_dropped() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"A" * 1480)
    # Ping of death: the last fragment at offset 65528 carries more than 7 bytes.
    whole, weird = d.add(KEY, 2, 0.0, 65528, False, b"B" * 100)
    assert whole is None and names(weird) == ["ip_fragment_too_large"]
    assert d.pending == 0 and d.buffered == 0
    assert MAX_DATAGRAM == 65535


def test_datagram_count_cap_drops_the_oldest() -> None:
    d = Defragmenter(max_datagrams=2)
    d.add((4, 1), 1, 0.0, 0, True, b"a" * 8)
    d.add((4, 2), 2, 0.0, 0, True, b"b" * 8)
    _, weird = d.add((4, 3), 3, 0.0, 0, True, b"c" * 8)
    assert names(weird) == ["ip_fragment_cap"] and weird[0].frame == 1
    assert d.pending == 2
    assert d.add((4, 2), 4, 0.0, 8, False, b"B")[0] == b"b" * 8 + b"B"


def test_byte_cap_drops_the_oldest_first() -> None:
    d = Defragmenter(max_bytes=20)
    d.add((4, 1), 1, 0.0, 0, True, b"a" * 8)
    d.add((4, 2), 2, 0.0, 0, True, b"b" * 8)
    _, weird = d.add((4, 2), 3, 0.0, 16, True, b"b" * 8)  # 24 bytes held > 20
    assert names(weird) == ["ip_fragment_cap"] and weird[0].frame == 1
    assert d.pending == 1 and d.buffered == 16
    _, weird = d.add((4, 2), 4, 0.0, 32, True, b"b" * 8)  # alone over the cap
    assert names(weird) == ["ip_fragment_cap"] and d.pending == 0 and d.buffered == 0


def test_expire_drops_datagrams_older_than_timeout() -> None:
    d = Defragmenter(timeout=30.0)
    d.add(KEY, 1, 100.0, 0, True, b"a" * 8)
    d.add(OTHER, 2, 125.0, 0, True, b"b" * 8)
    assert d.expire(129.0) == []
    weird = d.expire(131.0)
    assert names(weird) == ["ip_fragment_timeout"] and weird[0].frame == 1
    assert d.pending == 1 and d.buffered == 8


def test_fragment_arriving_after_timeout_starts_a_new_datagram() -> None:
    d = Defragmenter(timeout=30.0)
    d.add(KEY, 1, 100.0, 0, True, b"a" * 8)
    d.add(KEY, 2, 200.0, 0, True, b"n" * 8)  # ident reused long after
    whole, weird = d.add(KEY, 3, 200.0, 8, False, b"N")
    assert whole == b"n" * 8 + b"N" and weird == []


def test_finish_reports_each_incomplete_datagram() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 0, True, b"a" * 8)
    d.add(OTHER, 2, 0.0, 8, False, b"b")
    weird = d.finish()
    assert names(weird) == ["ip_fragments_incomplete", "ip_fragments_incomplete"]
    assert [w.frame for w in weird] == [1, 2]
    assert d.pending == 0 and d.buffered == 0


def test_conflicting_last_fragments_first_end_wins() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 8, False, b"end")  # datagram is 11 bytes
    _, weird = d.add(KEY, 2, 0.0, 8, False, b"longer")
    # The end differs, the bytes past it are cut, and what is left ("lon") differs too.
    assert names(weird) == [
        "ip_fragment_end_mismatch",
        "ip_fragment_beyond_end",
        "ip_fragment_overlap_mismatch",
    ]
    assert d.add(KEY, 3, 0.0, 0, True, b"h" * 8)[0] == b"h" * 8 + b"end"


def test_bytes_beyond_the_end_are_dropped() -> None:
    d = Defragmenter()
    d.add(KEY, 1, 0.0, 16, True, b"x" * 8)  # claims more follows...
    _, weird = d.add(KEY, 2, 0.0, 8, False, b"z")  # ...but the datagram ends at 9
    assert names(weird) == ["ip_fragment_beyond_end"] and d.buffered == 1
    assert d.add(KEY, 3, 0.0, 0, True, b"a" * 8)[0] == b"a" * 8 + b"z"


def test_memoryview_payload_is_copied() -> None:
    d = Defragmenter()
    buf = bytearray(b"a" * 8)
    d.add(KEY, 1, 0.0, 0, True, memoryview(buf))
    buf[:] = b"X" * 8  # the reader reuses its buffer
    assert d.add(KEY, 2, 0.0, 8, False, b"b")[0] == b"a" * 8 + b"b"


# -- properties ---------------------------------------------------------------------------


def fragment(payload: bytes, rnd: random.Random) -> list[tuple[int, bool, bytes]]:
    """Cut at multiples of 8 (as IP does), add overlapping re-fragmented copies and
    duplicates, shuffle."""
    frags: list[tuple[int, bool, bytes]] = []
    pos = 0
    while True:
        size = 8 * rnd.randint(1, 8)
        last = pos + size >= len(payload)
        frags.append((pos, not last, payload[pos : pos + size]))
        if last:
            break
        pos += size
    for _ in range(rnd.randint(0, 3)):  # a router re-fragmented a copy differently
        a = 8 * rnd.randrange((len(payload) + 7) // 8)
        b = min(len(payload), a + 8 * rnd.randint(1, 6))
        if a < b:
            frags.append((a, b < len(payload), payload[a:b]))
    frags += rnd.sample(frags, k=rnd.randint(0, len(frags)))
    rnd.shuffle(frags)
    return frags


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_random_fragmentation_shuffled_with_duplicates_reassembles_exactly(
    payloads: list[bytes], rnd: random.Random
) -> None:
    d = Defragmenter()
    plan = [(k, f) for k, p in enumerate(payloads) for f in fragment(p, rnd)]
    rnd.shuffle(plan)  # datagrams interleaved
    got: dict[int, list[bytes]] = {}
    for frame, (k, (off, more, chunk)) in enumerate(plan):
        whole, weird = d.add((6, "a", "b", k, 17), frame, 0.0, off, more, chunk)
        assert weird == []
        if whole is not None:
            got.setdefault(k, []).append(whole)
            assert d.last_frames[-1] == frame
    assert got == {k: [p] for k, p in enumerate(payloads)}
    assert d.pending == 0 and d.buffered == 0 and d.finish() == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # datagram
            st.one_of(st.integers(0, 80), st.integers(-5, 70000)),  # offset
            st.booleans(),
            st.binary(max_size=40),
            st.floats(0, 200),  # ts
        ),
        max_size=40,
    ),
    st.integers(1, 3),
    st.integers(1, 100),
)
def test_random_fragments_never_raise_and_keep_accounts(
    frags: list[tuple[int, int, bool, bytes, float]], max_datagrams: int, max_bytes: int
) -> None:
    d = Defragmenter(max_datagrams=max_datagrams, max_bytes=max_bytes, timeout=50.0)
    for frame, (k, off, more, chunk, ts) in enumerate(frags):
        whole, weird = d.add(k, frame, ts, off, more, chunk)
        assert all(isinstance(w, Weird) for w in weird)
        if whole is not None:
            assert len(whole) <= MAX_DATAGRAM and frame in d.last_frames
        assert d.pending <= max_datagrams and d.buffered <= max_bytes
        if frame % 7 == 6:
            d.expire(ts)
    d.finish()
    assert d.pending == 0 and d.buffered == 0
