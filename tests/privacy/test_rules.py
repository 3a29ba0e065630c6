"""The shared rule set: each type found in its real-world formats, decoys left alone, counts per type."""

from __future__ import annotations

import pytest

from tokentrail.privacy.redact import format_counts, make, parse_counts, redact
from tokentrail.privacy.rules import iban_valid, luhn

FOUND = [
    ("EMAIL", "write to jane.doe+tag@mail.example.co.uk today"),
    ("EMAIL", "jörg.müller@beispiel.de"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "+1 (415) 555-2671"),
    ("PHONE", "call +14155552671 now"),
    ("PHONE", "0049 30 12345678"),
    ("PHONE", "(555) 123-4567"),
    ("PHONE", "555.123.4567"),
    ("PHONE", "020 7946 0958"),
    ("PHONE", "06 12 34 56 78"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "5500-0055-5555-5559"),
    ("CARD", "378282246310005"),
    ("IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN", "DE89370400440532013000"),
    ("SSN", "SSN 123-45-6789"),
    ("SSN", "social security number: 123456789"),
    ("NATIONAL_ID", "NI number AB 12 34 56 C"),
    ("IP", "from 192.168.10.20 at"),
    ("IP", "2001:db8::ff00:42:8329"),
    ("IP", "fe80::1%eth0"),
    ("SECRET", "sk-proj-abcdefghijklmnop1234567890"),
    ("SECRET", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"),
    ("SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("SECRET", "ghp_1234567890abcdefghijABCDEFGHIJ123456"),
    ("SECRET", "use github_pat_11ABCDEFG0123456789_AbcdefAbcdefAbcdefAbcdefAbcdefAbcdefAbcdefAbcdefAbcdefAbcdef ok"),
    ("SECRET", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("SECRET", "xoxb-123456789012-abcdefghij"),
    ("SECRET", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("SECRET", "Authorization: Bearer abcdef1234567890abcdef"),
    ("SECRET", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("SECRET", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
    ("SECRET", "postgres://bob:s3cr3tpw@db.internal/x"),
]

DECOYS = [
    "4111 1111 1111 1112",  # Luhn-invalid
    "order ORD-4111111111111111 shipped",
    "invoice #5500005555555559",
    "2024-01-15T10:30:00Z",
    "12:30:45",
    "v1.2.3.4",
    "version 10.0.19041.1",
    "1.2.3.4.5",
    "sk-learn",
    "scikit-learn 1.5.2",
    "123e4567-e89b-12d3-a456-426614174000",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "$1,234.56",
    "unix time 1700000000",
    "std::vector<int>",
    "GB82 WEST 1234 5698 7654 33",  # mod-97 fails
]


@pytest.mark.parametrize("kind, text", FOUND)
def test_value_is_replaced_by_its_typed_placeholder(kind: str, text: str) -> None:
    out, counts = redact(text)
    assert f"<{kind}>" in out
    assert counts.get(kind, 0) >= 1


@pytest.mark.parametrize("text", DECOYS)
def test_decoy_survives(text: str) -> None:
    assert redact(text) == (text, {})


def test_counts_per_type_and_their_attribute_form() -> None:
    out, counts = redact("a@b.example.com, c@d.example.org and 4111 1111 1111 1111")
    assert out == "<EMAIL>, <EMAIL> and <CARD>"
    assert counts == {"EMAIL": 2, "CARD": 1}
    assert format_counts(counts) == "CARD:1,EMAIL:2"
    assert parse_counts("CARD:1,EMAIL:2") == counts


def test_custom_patterns_and_national_ids_from_config() -> None:
    r = make("EMPLOYEE=\\bEMP-\\d{6}\\b", "us_ssn,es_dni")
    assert r.redact("EMP-123456 and 12345678Z") == ("<EMPLOYEE> and <NATIONAL_ID>", {"EMPLOYEE": 1,
                                                                                     "NATIONAL_ID": 1})
    with pytest.raises(ValueError, match="unknown national id"):
        make("", "us_ssn,xx_nope")
    with pytest.raises(ValueError, match="bad regular expression"):
        make("BAD=([", None)


def test_checksums() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
