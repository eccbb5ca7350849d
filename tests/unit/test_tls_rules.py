"""The certificate rules (filter_plugins/mongodb_tls.py): each bad certificate is named for
what is wrong with it, a good one passes, and the key never appears in a message."""

from __future__ import annotations

import datetime

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from mongodb_tls import mongodb_tls_alt_names, mongodb_tls_problems
from support import certificates

NAMES = ["db1.example.internal", "127.0.0.1", "10.0.0.5"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return certificates.authority(tmp_path_factory.mktemp("ca"), "project-ca")


def material(ca, issued, **overrides) -> dict:
    return {
        "host": "db1",
        "certificate": issued.certificate,
        "private_key": issued.private_key,
        "ca": certificates.ca_pem(ca),
        "names": NAMES,
        "warning_days": 30,
        **overrides,
    }


def test_a_certificate_of_the_ca_naming_every_address_passes(ca):
    issued = certificates.issue_pem(ca, "db1", tuple(NAMES), valid_days=90)
    assert mongodb_tls_problems(material(ca, issued)) == []


def test_a_missing_name_is_named(ca):
    issued = certificates.issue_pem(ca, "db1", ("db1.example.internal", "127.0.0.1"), valid_days=90)
    [problem] = mongodb_tls_problems(material(ca, issued))
    assert "does not name 10.0.0.5 among its subject alternative names" in problem
    assert "db1.example.internal, 127.0.0.1" in problem


def test_a_wildcard_covers_one_label_only(ca):
    issued = certificates.issue_pem(ca, "db1", ("*.example.internal", "127.0.0.1"), valid_days=90)
    names = ["db1.example.internal", "a.b.example.internal", "127.0.0.1"]
    [problem] = mongodb_tls_problems(material(ca, issued, names=names))
    assert "does not name a.b.example.internal " in problem


def test_an_expired_certificate_and_one_inside_the_warning_window_are_refused(ca):
    expired = certificates.issue_pem(ca, "db1", tuple(NAMES), valid_days=-1)
    assert any("expired on" in p for p in mongodb_tls_problems(material(ca, expired)))
    soon = certificates.issue_pem(ca, "db1", tuple(NAMES), valid_days=10)
    [problem] = mongodb_tls_problems(material(ca, soon))
    assert "within the 30-day warning window" in problem
    assert mongodb_tls_problems(material(ca, soon, warning_days=5)) == []


def test_the_time_of_the_check_can_be_given(ca):
    issued = certificates.issue_pem(ca, "db1", tuple(NAMES), valid_days=90)
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=100)).isoformat()
    assert any("expired on" in p for p in mongodb_tls_problems(material(ca, issued, now=later)))


def test_a_key_of_another_certificate_is_refused_and_not_shown(ca):
    issued = certificates.issue_pem(ca, "db1", tuple(NAMES), valid_days=90)
    other = certificates.issue_pem(ca, "db2", tuple(NAMES), valid_days=90)
    problems = mongodb_tls_problems(material(ca, issued, private_key=other.private_key))
    assert problems == [
        "The TLS certificate of db1 and its private key do not match: the key belongs to another certificate."
    ]
    body = other.private_key.splitlines()[1]
    assert body not in " ".join(problems)


def test_a_certificate_of_another_ca_is_refused(ca, tmp_path):
    stranger = certificates.authority(tmp_path, "stranger-ca")
    issued = certificates.issue_pem(stranger, "db1", tuple(NAMES), valid_days=90)
    [problem] = mongodb_tls_problems(material(ca, issued))
    assert "does not chain to the CA" in problem and "stranger-ca" in problem and "project-ca" in problem


def test_an_intermediate_after_the_leaf_completes_the_chain(ca, tmp_path):
    intermediate = certificates.intermediate(ca, tmp_path, "issuing-ca")
    issued = certificates.issue_pem(intermediate, "db1", tuple(NAMES), valid_days=90)
    alone = material(ca, issued)
    assert any("does not chain to the CA" in p for p in mongodb_tls_problems(alone))
    with_chain = material(ca, issued, certificate=issued.certificate + certificates.ca_pem(intermediate))
    assert mongodb_tls_problems(with_chain) == []


def test_a_server_only_certificate_is_refused_for_a_member(ca):
    issued = certificates.issue_pem(ca, "db1", tuple(NAMES), 90, usages=(ExtendedKeyUsageOID.SERVER_AUTH,))
    [problem] = mongodb_tls_problems(material(ca, issued))
    assert "without clientAuth" in problem


def test_missing_or_unreadable_material_is_named_for_each_part():
    problems = mongodb_tls_problems({"host": "db1", "certificate": "", "private_key": "x", "ca": "", "names": []})
    assert problems == [
        "The CA certificate for db1 (mongodb_tls_ca_certificate) is missing or not PEM: mongod's CAFile needs it.",
        "The TLS certificate of db1 (mongodb_tls_certificate) is missing or not PEM.",
        "The TLS private key of db1 (mongodb_tls_private_key) is missing, not PEM, or protected by a passphrase: "
        "supply it from Ansible Vault.",
    ]


def test_alternative_names_are_typed_for_the_certificate_request():
    assert mongodb_tls_alt_names(["db1.example.internal", "127.0.0.1", "::1"]) == [
        "DNS:db1.example.internal",
        "IP:127.0.0.1",
        "IP:::1",
    ]
