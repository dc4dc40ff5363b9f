"""Capture reading and L2-L4 decoding: readers, columnar decode, defragmentation, TCP, flows."""
