"""LDAP/CLDAP: message decoding, filters as RFC 4515 text, entries and certificates, the
stream (framing, SASL security layers, StartTLS, gaps), the DC locator ping, and the
DecodeError contract."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import struct
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import CORPUS, SAMPLES
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ber import boolean, enumerated, integer, octets, oid, seq, tlv

import analyzer.protocols.ldap as ldap_module
from analyzer.api import analyze
from analyzer.capture.pipeline import FlowInfo, read_capture
from analyzer.dissect import Dispatcher
from analyzer.errors import DecodeError, Malformed, Truncated
from analyzer.protocols.base import Envelope, Schema, Sink
from analyzer.protocols.ldap import (
    CldapDissector,
    LdapSession,
    escape_filter_value,
    parse_ldap_message,
    parse_netlogon,
    render_value,
    unwrap_sasl,
)
from analyzer.protocols.registry import ProtocolModule

# ------------------------------------------------------------- message builders


def message(msg_id: int, op: bytes, controls: bytes = b"") -> bytes:
    return seq(integer(msg_id), op, *([tlv(0xA0, controls)] if controls else []))


def bind_simple(name: str, password: str) -> bytes:
    # [APPLICATION 0] { version 3, name, simple [0] password }
    return tlv(0x60, integer(3) + octets(name) + tlv(0x80, password.encode()))


def bind_sasl(mechanism: str, credentials: bytes | None = None) -> bytes:
    sasl = octets(mechanism) + (octets(credentials) if credentials is not None else b"")
    return tlv(0x60, integer(3) + octets("") + tlv(0xA3, sasl))


def bind_response(code: int, diag: str = "", creds: bytes | None = None) -> bytes:
    return tlv(
        0x61, enumerated(code) + octets("") + octets(diag) + (tlv(0x87, creds) if creds else b"")
    )


def search_request(
    base: str,
    flt: bytes,
    attributes: list[str],
    scope: int = 2,
    deref: int = 0,
    size_limit: int = 0,
    time_limit: int = 0,
) -> bytes:
    return tlv(
        0x63,
        octets(base)
        + enumerated(scope)
        + enumerated(deref)
        + integer(size_limit)
        + integer(time_limit)
        + boolean(False)
        + flt
        + seq(*[octets(a) for a in attributes]),
    )


def entry(dn: str, attributes: list[tuple[str, list[bytes]]]) -> bytes:
    attrs = [seq(octets(t), seq(*[octets(v) for v in vals], tag=0x31)) for t, vals in attributes]
    return tlv(0x64, octets(dn) + seq(*attrs))


def result(tag: int, code: int = 0, matched: str = "", diag: str = "") -> bytes:
    return tlv(tag, enumerated(code) + octets(matched) + octets(diag))


def f_and(*items: bytes) -> bytes:
    return tlv(0xA0, b"".join(items))


def f_or(*items: bytes) -> bytes:
    return tlv(0xA1, b"".join(items))


def f_not(item: bytes) -> bytes:
    return tlv(0xA2, item)


def f_ava(tag: int, attr: str, value: bytes | str) -> bytes:
    return tlv(tag, octets(attr) + octets(value))


def f_eq(attr: str, value: bytes | str) -> bytes:
    return f_ava(0xA3, attr, value)


def f_present(attr: str) -> bytes:
    return tlv(0x87, attr.encode())


# ----------------------------------------------------------------- certificates


def make_certificate(common_name: str, *, rsa_bits: int | None = None) -> bytes:
    key: Any = (
        rsa.generate_private_key(65537, rsa_bits)
        if rsa_bits
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(dt.datetime(2012, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2032, 1, 1, tzinfo=dt.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


ROOT = make_certificate("Contoso Root CA")
ISSUING = make_certificate("Contoso Issuing CA 01")

# ---------------------------------------------------------------- session utils

FLOW = FlowInfo(3, "tcp", "10.20.0.57", 1100, "10.1.0.10", 389, 1)
ENV = Envelope(1_347_378_000_000_000_000, 10, 3, "10.20.0.57", 1100, "10.1.0.10", 389, "tcp")
CLDAP_ENV = Envelope(1_347_378_000_000_000_000, 1, 4, "10.20.0.57", 1101, "10.1.0.10", 389, "udp")


def run(chunks: list[tuple[int, bytes]], *, bytewise: bool = False) -> Sink:
    sink = Sink()
    session = LdapSession(FLOW, sink)
    for direction, data in chunks:
        pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for piece in pieces:
            session.data(direction, piece, ENV)
    session.close(ENV)
    return sink


def rows(sink: Sink) -> list[dict[str, Any]]:
    return sink.rows.get("ldap", [])


def one(data: bytes) -> dict[str, Any]:
    (row,) = rows(run([(0, data)]))
    return row


# ------------------------------------------------------------------------ bind


def test_simple_bind_keeps_the_password_length_never_the_password() -> None:
    row = one(message(1, bind_simple("CN=jdoe,CN=Users,DC=contoso,DC=local", "Secr3t!")))
    assert row["op"] == "bindRequest"
    assert (row["bind_version"], row["bind_name"], row["auth"]) == (
        3,
        "CN=jdoe,CN=Users,DC=contoso,DC=local",
        "simple",
    )
    assert row["password_length"] == 7
    assert "Secr3t!" not in repr(row)


def ntlm(msg_type: int, flags: int) -> bytes:
    """An NTLMSSP message with its flags where MS-NLMP puts them for its type."""
    offset = {1: 12, 2: 20, 3: 60}[msg_type]
    body = bytearray(b"NTLMSSP\x00" + struct.pack("<I", msg_type) + bytes(offset + 4 - 12))
    body[offset : offset + 4] = struct.pack("<I", flags)
    return bytes(body)


def spnego_init(token: bytes) -> bytes:
    # [APPLICATION 0] { SPNEGO OID, [0] NegTokenInit { [0] mechTypes, [2] mechToken } }
    inner = seq(tlv(0xA0, seq(oid("1.3.6.1.4.1.311.2.2.10"))), tlv(0xA2, octets(token)))
    return tlv(0x60, oid("1.3.6.1.5.5.2") + tlv(0xA0, inner))


def spnego_resp(token: bytes | None, state: int = 1) -> bytes:
    parts = tlv(0xA0, enumerated(state)) + (tlv(0xA2, octets(token)) if token else b"")
    return tlv(0xA1, seq(parts))


NTLM_SIGN, NTLM_SEAL = 0x10, 0x20


def test_sasl_bind_names_the_mechanism_and_the_ntlm_message() -> None:
    row = one(message(1, bind_sasl("GSS-SPNEGO", spnego_init(ntlm(1, 0x62088215)))))
    assert (row["auth"], row["sasl_mechanism"], row["sasl_token"]) == (
        "sasl",
        "GSS-SPNEGO",
        "NTLMSSP_NEGOTIATE",
    )
    assert row["sasl_credentials_length"] > 0


def test_ntlm_flags_say_whether_the_bind_asks_for_sealing() -> None:
    sealed = one(message(2, bind_sasl("GSS-SPNEGO", spnego_resp(ntlm(3, NTLM_SIGN | NTLM_SEAL)))))
    signed = one(message(2, bind_sasl("GSS-SPNEGO", spnego_resp(ntlm(3, NTLM_SIGN)))))
    plain = one(message(2, bind_sasl("GSS-SPNEGO", spnego_resp(ntlm(3, 0x8000)))))
    assert (sealed["sasl_token"], sealed["sasl_protection"]) == ("NTLMSSP_AUTH", "seal")
    assert signed["sasl_protection"] == "sign"
    assert plain["sasl_protection"] == "none"


def test_kerberos_token_inside_spnego_is_recognised() -> None:
    # mechToken = raw AP-REQ ([APPLICATION 14]), as Windows sends it (zeek/aduser1.pcap)
    ap_req = tlv(0x6E, seq(tlv(0xA0, integer(5))))
    row = one(message(1, bind_sasl("GSS-SPNEGO", spnego_init(ap_req))))
    assert row["sasl_token"] == "krb5_ap_req"


def test_bind_response_result_name_and_the_requests_mechanism() -> None:
    sink = run(
        [
            (0, message(1, bind_sasl("GSSAPI", b"\x60\x00"))),
            (1, message(1, bind_response(14, creds=b"x"))),
            (0, message(1, bind_sasl("GSSAPI", b""))),
            (1, message(1, bind_response(49, "80090308: LdapErr: DSID-0C09042A"))),
        ]
    )
    first, second = (r for r in rows(sink) if r["op"] == "bindResponse")
    assert (first["result_code"], first["result"], first["sasl_mechanism"]) == (
        14,
        "saslBindInProgress",
        "GSSAPI",
    )
    assert (second["result"], second["auth"], second["sasl_mechanism"]) == (
        "invalidCredentials",
        "sasl",
        "GSSAPI",
    )
    assert second["diagnostic_message"] == "80090308: LdapErr: DSID-0C09042A"


def test_unknown_result_code_keeps_its_number() -> None:
    row = one(message(4, result(0x65, 4096)))
    assert (row["result_code"], row["result"]) == (4096, "code_4096")


# ---------------------------------------------------------------------- search


def test_search_request_fields() -> None:
    row = one(
        message(
            4,
            search_request(
                "CN=Certification Authorities,CN=Public Key Services,CN=Services,"
                "CN=Configuration,DC=contoso,DC=local",
                f_eq("objectClass", "certificationAuthority"),
                ["cACertificate", "cn"],
                scope=1,
                deref=3,
                size_limit=100,
                time_limit=120,
            ),
        )
    )
    assert row["op"] == "searchRequest"
    assert row["base_object"].startswith("CN=Certification Authorities,")
    assert (row["scope"], row["deref"], row["size_limit"], row["time_limit"]) == (
        "one",
        "always",
        100,
        120,
    )
    assert row["filter"] == "(objectClass=certificationAuthority)"
    assert row["requested_attributes"] == ["cACertificate", "cn"]
    assert row["types_only"] is False


def render(flt: bytes) -> str:
    msg = parse_ldap_message(message(1, search_request("", flt, [])))
    assert msg.filter is not None
    return msg.filter


def test_filter_and_or_not_present() -> None:
    flt = f_and(f_present("mail"), f_or(f_eq("cn", "a"), f_eq("cn", "b")), f_not(f_eq("x", "1")))
    assert render(flt) == "(&(mail=*)(|(cn=a)(cn=b))(!(x=1)))"


def test_filter_ordering_and_approximate_matches() -> None:
    assert render(f_ava(0xA5, "uSNChanged", "100")) == "(uSNChanged>=100)"
    assert render(f_ava(0xA6, "uSNChanged", "200")) == "(uSNChanged<=200)"
    assert render(f_ava(0xA8, "sn", "smith")) == "(sn~=smith)"


def test_filter_substrings() -> None:
    def sub(*pieces: tuple[int, str]) -> bytes:
        return tlv(0xA4, octets("cn") + seq(*[tlv(0x80 | t, v.encode()) for t, v in pieces]))

    assert render(sub((0, "Con"), (1, "so"), (2, "CA"))) == "(cn=Con*so*CA)"
    assert render(sub((1, "Root"))) == "(cn=*Root*)"
    assert render(sub((0, "Contoso"))) == "(cn=Contoso*)"
    assert render(sub((2, "CA"))) == "(cn=*CA)"


def test_filter_extensible_match() -> None:
    # UserAccountControl:1.2.840.113556.1.4.803:=2 (bitwise AND), as in zeek/aduser1.pcap
    ext = tlv(
        0xA9,
        tlv(0x81, b"1.2.840.113556.1.4.803") + tlv(0x82, b"UserAccountControl") + tlv(0x83, b"2"),
    )
    assert render(ext) == "(UserAccountControl:1.2.840.113556.1.4.803:=2)"
    dn = tlv(0xA9, tlv(0x82, b"ou") + tlv(0x83, b"Sales") + tlv(0x84, b"\xff"))
    assert render(dn) == "(ou:dn:=Sales)"


def test_filter_values_are_escaped_as_rfc_4515_says() -> None:
    assert render(f_eq("cn", "a*b(c)\\d")) == "(cn=a\\2ab\\28c\\29\\5cd)"
    # A binary value (objectGUID) that is not UTF-8: every non-printable octet escaped
    assert render(f_eq("objectGUID", bytes([0x30, 0xFF, 0x00, 0x41]))) == (
        "(objectGUID=0\\ff\\00A)"
    )
    # The CLDAP NtVer assertion: 4 little-endian octets
    assert escape_filter_value(bytes([0x16, 0, 0, 0])) == "\\16\\00\\00\\00"
    assert render(f_eq("cn", "Jürgen")) == "(cn=Jürgen)"
    # Unprintable characters of a UTF-8 value: each octet of their encoding escaped
    assert escape_filter_value("a\u2028b\x7fc\u00e9".encode()) == "a\\e2\\80\\a8b\\7fcé"


def test_filter_nesting_beyond_the_cap_is_malformed() -> None:
    flt = f_present("cn")
    for _ in range(40):
        flt = f_not(flt)
    with pytest.raises(Malformed, match="nesting"):
        render(flt)


def test_search_entry_values_are_text_or_their_size() -> None:
    guid = bytes.fromhex("9a1b2c3d4e5f60718293a4b5c6d7e8f9")
    row = one(
        message(
            5,
            entry(
                "CN=Contoso Root CA,CN=Certification Authorities,CN=Public Key Services",
                [("cn", [b"Contoso Root CA"]), ("objectGUID", [guid]), ("member", [b"a", b"b"])],
            ),
        )
    )
    assert row["object_name"].startswith("CN=Contoso Root CA,")
    assert row["attribute_names"] == ["cn", "objectGUID", "member"]
    assert row["attributes"] == [
        {"type": "cn", "values": ["Contoso Root CA"]},
        {"type": "objectGUID", "values": ["<16 bytes>"]},
        {"type": "member", "values": ["a", "b"]},
    ]


def test_render_value_rejects_control_characters_and_caps_long_text() -> None:
    assert render_value(b"line1\r\nline2") == "line1\r\nline2"
    assert render_value(b"a\x00b") == "<3 bytes>"
    assert render_value(b"x" * 5000).endswith("...<5000 bytes>")


def test_search_res_ref_and_done() -> None:
    ref = one(message(6, tlv(0x73, octets("ldap://ForestDnsZones.contoso.local/DC=x"))))
    assert (ref["op"], ref["referrals"]) == (
        "searchResRef",
        ["ldap://ForestDnsZones.contoso.local/DC=x"],
    )
    done = one(message(6, result(0x65, 32, "CN=Services,DC=x", "0000208D: NameErr")))
    assert (done["op"], done["result"], done["matched_dn"]) == (
        "searchResDone",
        "noSuchObject",
        "CN=Services,DC=x",
    )


# ---------------------------------------------------------------- certificates


def test_ca_certificate_values_go_to_the_catalogue_with_their_context() -> None:
    dn = "CN=Contoso Root CA,CN=Certification Authorities,CN=Public Key Services"
    sink = run([(1, message(4, entry(dn, [("cACertificate", [ROOT, ISSUING])])))])
    (row,) = rows(sink)
    assert row["certificate_sha256"] == [
        hashlib.sha256(ROOT).hexdigest(),
        hashlib.sha256(ISSUING).hexdigest(),
    ]
    assert [c["der"] for c in sink.certificates] == [ROOT, ISSUING]
    first = sink.certificates[0]
    assert (first["source"], first["attribute"], first["dn"], first["message_id"]) == (
        "ldap",
        "cACertificate",
        dn,
        4,
    )
    assert first["frame"] == ENV.frame
    assert row["attributes"][0]["values"] == [f"<{len(ROOT)} bytes>", f"<{len(ISSUING)} bytes>"]


def test_binary_option_and_case_do_not_hide_certificates() -> None:
    sink = run(
        [(1, message(4, entry("CN=u", [("USERCERTIFICATE;binary", [ROOT]), ("cn", [b"u"])])))]
    )
    assert [c["attribute"] for c in sink.certificates] == ["USERCERTIFICATE;binary"]


def test_cross_certificate_pair_gives_forward_and_reverse() -> None:
    pair = seq(tlv(0xA0, ROOT), tlv(0xA1, ISSUING))
    sink = run([(1, message(4, entry("CN=x", [("crossCertificatePair;binary", [pair])])))])
    assert [c["der"] for c in sink.certificates] == [ROOT, ISSUING]


def test_other_binary_attributes_are_not_certificates() -> None:
    sink = run([(1, message(4, entry("CN=x", [("authorityRevocationList", [ROOT])])))])
    assert sink.certificates == []


def test_a_certificate_attribute_that_is_not_der_is_a_weird_row() -> None:
    sink = run([(1, message(4, entry("CN=x", [("cACertificate", [b"not a certificate"])])))])
    assert sink.certificates == []
    assert sink.weird_counts["ldap_certificate_not_der"] == 1


# --------------------------------------------------------------- other operations


def test_modify_add_delete_moddn_compare_abandon_unbind() -> None:
    modify = tlv(
        0x66,
        octets("CN=u")
        + seq(seq(enumerated(2), seq(octets("description"), seq(octets("x"), tag=0x31)))),
    )
    add = tlv(0x68, octets("CN=new") + seq(seq(octets("cn"), seq(octets("new"), tag=0x31))))
    moddn = tlv(0x6C, octets("CN=a,DC=x") + octets("CN=b") + boolean(True) + tlv(0x80, b"OU=y"))
    compare = tlv(0x6E, octets("CN=u") + seq(octets("cn"), octets("u*")))
    sink = run(
        [
            (0, message(1, modify)),
            (0, message(2, add)),
            (0, message(3, tlv(0x4A, b"CN=old"))),
            (0, message(4, moddn)),
            (0, message(5, compare)),
            (0, message(6, tlv(0x50, b"\x05"))),
            (0, message(7, tlv(0x42, b""))),
        ]
    )
    got = {r["op"]: r for r in rows(sink)}
    assert got["modifyRequest"]["changes"] == [
        {"operation": "replace", "type": "description", "values": ["x"]}
    ]
    assert got["addRequest"]["attributes"] == [{"type": "cn", "values": ["new"]}]
    assert got["delRequest"]["object_name"] == "CN=old"
    assert (got["modDNRequest"]["new_rdn"], got["modDNRequest"]["new_superior"]) == ("CN=b", "OU=y")
    assert got["compareRequest"]["assertion"] == "(cn=u\\2a)"
    assert got["abandonRequest"]["abandon_id"] == 5
    assert "unbindRequest" in got


def test_extended_request_names_starttls_and_controls_are_listed() -> None:
    paged = seq(octets("1.2.840.113556.1.4.319"), boolean(False), octets(b"\x30\x00"))
    row = one(message(1, tlv(0x77, tlv(0x80, b"1.3.6.1.4.1.1466.20037")), controls=paged))
    assert (row["op"], row["extended_oid"], row["extended_name"]) == (
        "extendedReq",
        "1.3.6.1.4.1.1466.20037",
        "StartTLS",
    )
    assert row["controls"] == ["1.2.840.113556.1.4.319"]


def test_unknown_operation_is_kept_by_number() -> None:
    # [APPLICATION 26] is no LDAPv3 operation
    assert one(message(1, tlv(0x7A, b"")))["op"] == "op_26"


# --------------------------------------------------------------------- framing


SEARCH = message(3, search_request("", f_present("objectClass"), []))
ENTRY = message(3, entry("", [("dnsHostName", [b"dc01.contoso.local"])]))
DONE = message(3, result(0x65))


def test_several_messages_in_one_segment_and_one_message_over_several() -> None:
    response = ENTRY + DONE
    sink = run([(0, SEARCH[:5]), (0, SEARCH[5:]), (1, response[:30]), (1, response[30:])])
    assert [r["op"] for r in rows(sink)] == ["searchRequest", "searchResEntry", "searchResDone"]


def test_stream_fed_byte_by_byte_gives_the_same_rows() -> None:
    chunks = [(0, SEARCH), (1, ENTRY + DONE)]
    assert rows(run(chunks, bytewise=True)) == rows(run(chunks))


def test_malformed_message_is_skipped_and_the_next_one_decoded() -> None:
    broken = seq(integer(9), tlv(0x63, octets("") + enumerated(0)))  # searchRequest cut short
    sink = run([(0, broken + SEARCH)])
    assert [r["op"] for r in rows(sink)] == ["searchRequest"]
    assert sink.weird_counts["ldap_malformed"] == 1


def test_garbage_loses_the_direction_with_a_weird_row() -> None:
    sink = Sink()
    session = LdapSession(FLOW, sink)
    assert session.data(0, b"GET / HTTP/1.1\r\n", ENV) is True  # the other side may still talk
    assert session.data(1, ENTRY, ENV) is True
    assert session.data(1, b"\xffgarbage", ENV) is False
    assert sink.weird_counts["ldap_stream_desync"] == 2
    assert [r["op"] for r in rows(sink)] == ["searchResEntry"]


def test_gap_inside_a_message_loses_only_that_message() -> None:
    sink = Sink()
    session = LdapSession(FLOW, sink)
    session.data(1, ENTRY[:10], ENV)
    assert session.gap(1, 5, ENV) is True
    session.data(1, ENTRY[15:] + DONE, ENV)
    assert [r["op"] for r in rows(sink)] == ["searchResDone"]
    assert sink.weird_counts["ldap_message_lost_in_gap"] == 1


def test_gap_at_a_message_boundary_desynchronises_that_direction() -> None:
    sink = Sink()
    session = LdapSession(FLOW, sink)
    session.data(1, ENTRY, ENV)
    assert session.gap(1, 100, ENV) is True  # the client side still works
    session.data(1, DONE, ENV)
    session.data(0, SEARCH, ENV)
    assert [r["op"] for r in rows(sink)] == ["searchResEntry", "searchRequest"]
    assert sink.weird_counts["ldap_gap_desync"] == 1


def test_oversized_message_is_skipped_with_a_weird_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap_module, "MAX_MESSAGE", 64)
    big = message(4, entry("CN=x", [("description", [b"y" * 200])]))
    sink = run([(1, big[:100]), (1, big[100:] + DONE)])
    assert [r["op"] for r in rows(sink)] == ["searchResDone"]
    assert sink.weird_counts["ldap_message_too_large"] == 1


def test_garbage_after_buffered_bytes_is_reported_where_it_starts() -> None:
    # The offset counts from the first byte still buffered, as before a segment is joined.
    sink = run([(1, ENTRY[:10]), (1, ENTRY[10:] + DONE + b"\xff")])
    assert [r["op"] for r in rows(sink)] == ["searchResEntry", "searchResDone"]
    (bad,) = [w for w in sink.weird if w.name == "ldap_malformed"]
    assert bad.offset == len(ENTRY + DONE)


def test_message_spread_over_many_segments_is_decoded_once_complete() -> None:
    big = message(4, entry("CN=x", [("description", [b"y" * 5000])]))
    sink = run([(1, big[i : i + 7]) for i in range(0, len(big), 7)] + [(1, DONE)])
    assert [r["op"] for r in rows(sink)] == ["searchResEntry", "searchResDone"]
    assert rows(sink)[0]["attributes"] == [
        {"type": "description", "values": ["y" * 4096 + "...<5000 bytes>"]}
    ]


def test_unfinished_message_at_close_is_a_weird_row() -> None:
    sink = run([(1, ENTRY[:-3])])
    assert rows(sink) == []
    assert sink.weird_counts["ldap_truncated_message"] == 1


# ------------------------------------------------------------------ SASL layer


def sasl_buffer(token: bytes) -> bytes:
    return struct.pack("!I", len(token)) + token


def ntlm_wrap(payload: bytes, seqno: int = 0) -> bytes:
    """NTLMSSP_MESSAGE_SIGNATURE (version 1, checksum, seq) followed by the payload."""
    return sasl_buffer(b"\x01\x00\x00\x00" + b"\xaa" * 8 + struct.pack("<I", seqno) + payload)


def krb5_cfx_wrap(plaintext: bytes, *, sealed: bool = False) -> bytes:
    """RFC 4121 wrap token, integrity only: header, then (plaintext | checksum) rotated
    right by RRC = EC = 12, as Windows sends it (zeek/missing_ldap_logs.pcapng)."""
    checksum = b"\xcc" * 12
    flags = 0x04 | (0x02 if sealed else 0)
    header = bytes([0x05, 0x04, flags, 0xFF]) + struct.pack("!HHQ", 12, 12, 7)
    return sasl_buffer(header + checksum + plaintext)


def ntlm_bind(flags: int) -> list[tuple[int, bytes]]:
    return [
        (0, message(1, bind_sasl("GSS-SPNEGO", spnego_init(ntlm(1, flags))))),
        (1, message(1, bind_response(14, creds=spnego_resp(ntlm(2, flags))))),
        (0, message(2, bind_sasl("GSS-SPNEGO", spnego_resp(ntlm(3, flags))))),
        (1, message(2, bind_response(0, creds=spnego_resp(None, 0)))),
    ]


def test_sealed_sasl_buffers_become_sasl_wrapped_rows_and_seal_the_session() -> None:
    ciphertext = bytes(range(89))
    chunks = [(0, ntlm_wrap(ciphertext)), (1, ntlm_wrap(ciphertext[:50], 1))]
    sink = run([*ntlm_bind(NTLM_SIGN | NTLM_SEAL), *chunks])
    wrapped = [r for r in rows(sink) if r["op"] == "sasl_wrapped"]
    assert [(r["direction"], r["length"], r["wrap"], r["sealed"]) for r in wrapped] == [
        (0, 16 + 89, "ntlmssp", True),
        (1, 16 + 50, "ntlmssp", True),
    ]
    assert all(r["session_sealed"] for r in wrapped)
    assert not any(r["session_sealed"] for r in rows(sink) if r["op"].startswith("bind"))


def test_ntlm_signed_only_buffers_are_opened() -> None:
    sink = run([*ntlm_bind(NTLM_SIGN), (0, ntlm_wrap(SEARCH)), (1, ntlm_wrap(ENTRY + DONE, 1))])
    ops = [(r["op"], r.get("in_sasl"), r.get("sealed")) for r in rows(sink)][4:]
    assert ops == [
        ("sasl_wrapped", None, False),
        ("searchRequest", True, None),
        ("sasl_wrapped", None, False),
        ("searchResEntry", True, None),
        ("searchResDone", True, None),
    ]
    assert not any(r["session_sealed"] for r in rows(sink))


def test_ntlm_buffer_without_a_seen_bind_is_judged_by_its_content() -> None:
    assert unwrap_sasl(ntlm_wrap(SEARCH)[4:]).sealed is False
    assert unwrap_sasl(ntlm_wrap(bytes(range(40)))[4:]).sealed is True


def test_kerberos_integrity_wrap_tokens_are_unrotated_and_opened() -> None:
    sink = run([(0, krb5_cfx_wrap(SEARCH)), (1, krb5_cfx_wrap(ENTRY + DONE))])
    assert [r["op"] for r in rows(sink)] == [
        "sasl_wrapped",
        "searchRequest",
        "sasl_wrapped",
        "searchResEntry",
        "searchResDone",
    ]
    assert {r["wrap"] for r in rows(sink) if r["op"] == "sasl_wrapped"} == {"krb5_cfx"}


def test_kerberos_sealed_wrap_token_is_not_decoded() -> None:
    sink = run([(1, krb5_cfx_wrap(b"\x99" * 60, sealed=True)), (1, krb5_cfx_wrap(DONE))])
    first, second, done = rows(sink)
    assert (first["op"], first["sealed"]) == ("sasl_wrapped", True)
    assert (second["sealed"], second["session_sealed"]) == (False, True)
    assert (done["op"], done["session_sealed"]) == ("searchResDone", True)


def test_gssapi_v1_wrap_token_with_no_sealing_is_opened() -> None:
    # RFC 4757 RC4-HMAC wrap: [APPLICATION 0] { krb5 OID, TOK_ID 0201, SGN_ALG 1100,
    # SEAL_ALG ffff (none), filler ffff, SND_SEQ, SGN_CKSUM, confounder, data, padding }
    body = (
        oid("1.2.840.113554.1.2.2")
        + bytes.fromhex("0201 1100 ffff ffff")
        + bytes(8)
        + bytes(8)
        + bytes(8)
        + SEARCH
        + b"\x01"
    )
    token = tlv(0x60, body)
    assert unwrap_sasl(token).sealed is False
    sink = run([(0, sasl_buffer(token))])
    assert [r["op"] for r in rows(sink)] == ["sasl_wrapped", "searchRequest"]
    sealed = tlv(0x60, body.replace(bytes.fromhex("1100ffff"), bytes.fromhex("11001000"), 1))
    assert unwrap_sasl(sealed).sealed is True


# --------------------------------------------------------------------- StartTLS


STARTTLS_REQ = message(1, tlv(0x77, tlv(0x80, b"1.3.6.1.4.1.1466.20037")))
STARTTLS_OK = message(1, tlv(0x78, enumerated(0) + octets("") + octets("")))
CLIENT_HELLO = bytes.fromhex("16030100050100000100")


def test_starttls_without_a_tls_module_records_the_switch_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ldap_module, "protocol_modules", lambda: ())
    sink = Sink()
    session = LdapSession(FLOW, sink)
    assert session.data(0, STARTTLS_REQ, ENV) is True
    assert session.data(1, STARTTLS_OK, ENV) is False
    assert [r["op"] for r in rows(sink)] == ["extendedReq", "extendedResp", "starttls"]
    assert rows(sink)[1]["extended_name"] == "StartTLS"


class RecordingTls:
    def __init__(self) -> None:
        self.received: list[tuple[str, int, bytes | int]] = []

    def data(self, direction: int, data: bytes, env: Envelope) -> bool:
        self.received.append(("data", direction, data))
        return True

    def gap(self, direction: int, length: int, env: Envelope) -> bool:
        self.received.append(("gap", direction, length))
        return True

    def closed(self, direction: int, how: str, env: Envelope) -> bool:
        self.received.append(("closed", direction, 0))
        return True

    def close(self, env: Envelope | None) -> None:
        self.received.append(("close", -1, 0))


class RecordingTlsDissector:
    name: ClassVar[str] = "tls"

    def __init__(self) -> None:
        self.sessions: list[RecordingTls] = []

    def wants(self, flow: FlowInfo) -> bool:
        return False

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> RecordingTls:
        self.sessions.append(RecordingTls())
        return self.sessions[-1]


def test_after_starttls_every_byte_goes_to_the_tls_session(monkeypatch: pytest.MonkeyPatch) -> None:
    tls = RecordingTlsDissector()
    module = ProtocolModule("tls", "test", (Schema("tls", "", ()),), stream=tls)
    monkeypatch.setattr(ldap_module, "protocol_modules", lambda: (module,))
    sink = Sink()
    session = LdapSession(FLOW, sink)
    session.data(0, STARTTLS_REQ, ENV)
    # The server's response and the first TLS bytes arrive in one segment.
    assert session.data(1, STARTTLS_OK + b"\x16\x03", ENV) is True
    session.data(0, CLIENT_HELLO, ENV)
    session.gap(1, 3, ENV)
    session.closed(0, "fin", ENV)
    session.close(ENV)
    (tls_session,) = tls.sessions
    assert tls_session.received == [
        ("data", 1, b"\x16\x03"),
        ("data", 0, CLIENT_HELLO),
        ("gap", 1, 3),
        ("closed", 0, 0),
        ("close", -1, 0),
    ]
    assert [r["op"] for r in rows(sink)] == ["extendedReq", "extendedResp", "starttls"]


def test_failed_starttls_keeps_decoding_ldap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap_module, "protocol_modules", lambda: ())
    refused = message(1, tlv(0x78, enumerated(53) + octets("") + octets("no")))
    sink = run([(0, STARTTLS_REQ), (1, refused), (0, SEARCH)])
    assert [r["op"] for r in rows(sink)] == ["extendedReq", "extendedResp", "searchRequest"]


# -------------------------------------------------------------- CLDAP / netlogon


def netlogon_ex() -> bytes:
    """LOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9) with compressed names."""
    out = bytearray(struct.pack("<HHI", 23, 0, 0x000011BD))
    out += bytes.fromhex("7497781f053bd7428bb28cf3d97a7f6a")  # DomainGuid
    forest_at = len(out)
    out += b"\x07contoso\x05local\x00"  # DnsForestName
    out += struct.pack("!H", 0xC000 | forest_at)  # DnsDomainName -> same name
    out += b"\x04dc01" + struct.pack("!H", 0xC000 | forest_at)  # DnsHostName
    out += b"\x07CONTOSO\x00\x04DC01\x00\x00"  # NetBIOS domain, NetBIOS host, user ""
    site_at = len(out)
    out += b"\x17Default-First-Site-Name\x00"  # DcSiteName
    out += struct.pack("!H", 0xC000 | site_at)  # ClientSiteName
    out += struct.pack("<IHH", 5, 0xFFFF, 0xFFFF)  # NtVersion, LmNtToken, Lm20Token
    return bytes(out)


def test_netlogon_response_gives_dc_domain_forest_and_site() -> None:
    nl = parse_netlogon(netlogon_ex())
    assert (nl.opcode_name, nl.dc_name, nl.domain, nl.forest) == (
        "LOGON_SAM_LOGON_RESPONSE_EX",
        "dc01.contoso.local",
        "contoso.local",
        "contoso.local",
    )
    assert (nl.netbios_domain, nl.netbios_dc, nl.dc_site, nl.client_site) == (
        "CONTOSO",
        "DC01",
        "Default-First-Site-Name",
        "Default-First-Site-Name",
    )
    assert nl.nt_version == 5


def test_netlogon_as_dict_has_every_field_in_order() -> None:
    nl = parse_netlogon(netlogon_ex())
    assert nl.as_dict() == dataclasses.asdict(nl)
    assert list(nl.as_dict()) == [f.name for f in dataclasses.fields(nl)]


@pytest.mark.parametrize(
    "patch, error",
    [
        ((24, b"\x3f"), Truncated),  # a label running past the end of the value
        ((24, b"\x80"), Malformed),  # label length byte with the reserved 10 bits
    ],
)
def test_broken_netlogon_names_raise(patch: tuple[int, bytes], error: type) -> None:
    data = bytearray(netlogon_ex())
    at, value = patch
    data[at : at + len(value)] = value
    if error is Truncated:
        del data[at + 1 + 0x20 :]  # cut inside the 63-byte label
    with pytest.raises(error):
        parse_netlogon(bytes(data))


def test_netlogon_pointer_forward_is_malformed() -> None:
    data = bytearray(netlogon_ex())
    data[24:26] = b"\xc0\x7f"  # DnsForestName -> a pointer past itself
    with pytest.raises(Malformed):
        parse_netlogon(bytes(data))


def test_unknown_netlogon_opcode_is_kept_raw() -> None:
    nl = parse_netlogon(struct.pack("<H", 99) + b"\x01\x02")
    assert (nl.opcode_name, nl.dc_name) == ("opcode_99", None)


def test_cldap_ping_and_answer_in_one_datagram_each() -> None:
    ping = message(
        1,
        search_request(
            "",
            f_and(f_eq("DnsDomain", "contoso.local"), f_eq("NtVer", bytes([0x16, 0, 0, 0]))),
            ["Netlogon"],
            scope=0,
        ),
    )
    answer = message(1, entry("", [("Netlogon", [netlogon_ex()])])) + message(1, result(0x65))
    sink = Sink()
    CldapDissector().datagram(CLDAP_ENV, ping, sink)
    CldapDissector().datagram(CLDAP_ENV, answer, sink)
    request, response, done = rows(sink)
    assert request["filter"] == "(&(DnsDomain=contoso.local)(NtVer=\\16\\00\\00\\00))"
    assert (response["netlogon_dc"], response["netlogon_site"]) == (
        "dc01.contoso.local",
        "Default-First-Site-Name",
    )
    assert all(r["cldap"] for r in (request, response, done))


def test_undecodable_netlogon_value_is_kept_as_hex() -> None:
    answer = message(1, entry("", [("netlogon", [b"\x17\x00\x00"])]))
    sink = Sink()
    CldapDissector().datagram(CLDAP_ENV, answer, sink)
    assert rows(sink)[0]["netlogon"] == {"raw": "170000"}


# ------------------------------------------------------------------- captures


def test_corpus_cldap_ping_names_the_dc() -> None:
    capture = CORPUS / "suricata-verify" / "cldap.pcap"
    if not capture.exists():
        pytest.skip("corpus not present")
    ldap = analyze(capture, protocols=["ldap"]).ldap
    entry_row = ldap[ldap.op == "searchResEntry"].iloc[0]
    assert entry_row.netlogon_dc == "obed.s4.howto.abartlet.net"
    assert (entry_row.netlogon_domain, entry_row.netlogon_forest) == (
        "s4.howto.abartlet.net",
        "s4.howto.abartlet.net",
    )
    assert entry_row.netlogon_site == "Default-First-Site-Name"


def test_sealed_sample_says_results_sealed_never_no_certificate() -> None:
    analysis = analyze(SAMPLES / "ldap-sealed.pcapng", protocols=["ldap"])
    ldap = analysis.ldap
    wrapped = ldap[ldap.op == "sasl_wrapped"]
    assert len(wrapped) > 0 and wrapped.sealed.all() and wrapped.session_sealed.all()
    assert set(wrapped.wrap) == {"ntlmssp"}
    assert not (ldap.op == "searchResEntry").any()
    assert analysis.certificate_sightings == []
    binds = ldap[ldap.op == "bindRequest"]
    assert set(binds.sasl_protection) == {"seal"}


def test_loop_sample_downloads_the_rsa_4096_sha_256_root_each_attempt() -> None:
    analysis = analyze(SAMPLES / "cx700-logon-loop.pcapng", protocols=["ldap"])
    ldap = analysis.ldap
    entries = ldap[ldap.attribute_names.map(lambda n: isinstance(n, list) and "cACertificate" in n)]
    assert len(entries) == 7  # one per attempt
    assert len(analysis.certificate_sightings) == 7
    der = analysis.certificate_sightings[0]["der"]
    cert = x509.load_der_x509_certificate(der)
    assert cert.public_key().key_size == 4096
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    assert "Contoso Root CA" in cert.subject.rfc4514_string()
    assert entries.certificate_sha256.iloc[0] == [hashlib.sha256(der).hexdigest()]


def test_corpus_signed_sasl_session_is_decoded_inside_the_wrap_tokens() -> None:
    capture = CORPUS / "zeek" / "missing_ldap_logs.pcapng"
    if not capture.exists():
        pytest.skip("corpus not present")
    analysis = analyze(capture, protocols=["ldap"])
    ldap = analysis.ldap
    wrapped = ldap[ldap.op == "sasl_wrapped"]
    assert set(wrapped.wrap) == {"krb5_cfx"} and not wrapped.sealed.any()
    assert ldap[ldap.op == "searchResEntry"].in_sasl.any()
    assert len(analysis.certificate_sightings) == 2


def test_corpus_starttls_is_recorded() -> None:
    capture = CORPUS / "suricata-verify" / "ldap-starttls.pcap"
    if not capture.exists():
        pytest.skip("corpus not present")
    ldap = analyze(capture, protocols=["ldap"]).ldap
    assert list(ldap.op) == ["extendedReq", "extendedResp", "starttls"]


# ---------------------------------------------------------------------- fuzzing

VALID = [
    SEARCH,
    ENTRY,
    DONE,
    message(1, bind_simple("cn=x", "pw")),
    message(4, entry("CN=x", [("cACertificate", [ROOT])])),
    message(1, search_request("", f_and(f_not(f_present("a")), f_ava(0xA5, "b", "c")), ["x"])),
    STARTTLS_REQ,
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_ldap_message(data)
    with contextlib.suppress(DecodeError):
        parse_netlogon(data)
    with contextlib.suppress(DecodeError):
        CldapDissector().datagram(CLDAP_ENV, data, Sink())
    unwrap_sasl(data)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_truncated_messages_raise_decode_errors(msg: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(msg) - 1))
    with pytest.raises(DecodeError):
        parse_ldap_message(msg[:cut])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=64)), max_size=10))
def test_session_fed_random_bytes_never_raises(chunks: list[tuple[int, bytes]]) -> None:
    run(chunks)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),
            st.sampled_from(
                [*VALID, ntlm_wrap(SEARCH), krb5_cfx_wrap(ENTRY + DONE), ntlm_wrap(bytes(30))]
            ),
        ),
        max_size=8,
    ),
    st.data(),
)
def test_stream_split_anywhere_gives_the_same_rows(
    chunks: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    whole = run(chunks)
    split: list[tuple[int, bytes]] = []
    for direction, payload in chunks:
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(payload) - 1)), max_size=4)))
        bounds = [0, *[c for c in cuts if c < len(payload)], len(payload)]
        split += [(direction, payload[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    pieces = run(split)
    assert rows(pieces) == rows(whole)
    assert pieces.certificates == whole.certificates
    assert pieces.weird_counts == whole.weird_counts


class RecordingStreams:
    """Records the in-order payload of every LDAP connection, as the dispatcher delivers it."""

    name: ClassVar[str] = "recorder"

    def __init__(self) -> None:
        self.flows: dict[int, list[tuple[int, bytes, Envelope]]] = {}

    def wants(self, flow: FlowInfo) -> bool:
        return 389 in (flow.sport, flow.dport)

    def sniff(self, direction: int, head: bytes) -> bool | None:
        return False

    def session(self, flow: FlowInfo, sink: Sink) -> Any:
        chunks = self.flows.setdefault(flow.flow, [])

        class Recorder:
            def data(self, direction: int, data: bytes, env: Envelope) -> bool:
                chunks.append((direction, data, env))
                return True

            def gap(self, direction: int, length: int, env: Envelope) -> bool:
                return True

            def close(self, env: Envelope | None) -> None:
                pass

        return Recorder()


@pytest.mark.parametrize(
    "capture",
    [
        SAMPLES / "cx700-logon-loop.pcapng",
        SAMPLES / "ldap-sealed.pcapng",
        CORPUS / "zeek" / "missing_ldap_logs.pcapng",
        CORPUS / "zeek" / "aduser1.pcap",
    ],
    ids=lambda p: p.name,
)
def test_capture_streams_fed_byte_by_byte_give_the_same_rows(capture: Path) -> None:
    if not capture.exists():
        pytest.skip("capture not present")
    recorder = RecordingStreams()
    read_capture(capture, [Dispatcher([], [recorder], Sink())])
    assert recorder.flows
    for fid, chunks in recorder.flows.items():
        flow = FlowInfo(fid, "tcp", chunks[0][2].src, 0, chunks[0][2].dst, 389, 1)
        whole, bytewise = Sink(), Sink()
        a, b = LdapSession(flow, whole), LdapSession(flow, bytewise)
        for direction, data, env in chunks:
            a.data(direction, data, env)
            for i in range(len(data)):
                b.data(direction, data[i : i + 1], env)
        assert rows(bytewise) == rows(whole) and rows(whole)
        assert bytewise.certificates == whole.certificates
