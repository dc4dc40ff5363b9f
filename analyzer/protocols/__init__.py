"""Sans-IO protocol parsers: bytes in, events out, or a DecodeError."""
