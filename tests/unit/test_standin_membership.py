"""The stand-in's membership authentication (tests/standin/membership.py) against
cluster_auth_mode.cpp and isClusterMember: what each mode sends and accepts, and which
certificates count as a member's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from standin import membership

KEY = "digest-of-the-keyfile"
MEMBER = (("organizationName", "monitoring-store"), ("organizationalUnitName", "mongodb-members"))


def process(mode: str) -> SimpleNamespace:
    settings = SimpleNamespace(parsed_options={"security": {"keyFile": "/k", "clusterAuthMode": mode}})
    return SimpleNamespace(settings=settings, extra_state={"member_attributes": list(MEMBER)})


def command_from(subject: tuple) -> SimpleNamespace:
    return SimpleNamespace(peer_subject=subject)


@pytest.mark.parametrize(
    ("mode", "sends", "takes_keyfile", "takes_certificate"),
    [
        ("keyFile", KEY, True, False),
        ("sendKeyFile", KEY, True, True),
        ("sendX509", membership.X509, True, True),
        ("x509", membership.X509, False, True),
    ],
)
def test_each_mode_sends_one_proof_and_accepts_its_neighbours(mode, sends, takes_keyfile, takes_certificate):
    server = process(mode)
    assert membership.credential(server, KEY) == sends
    member = command_from((("commonName", "db2"), *MEMBER))
    assert membership.accepts(server, member, KEY, KEY) is takes_keyfile
    assert membership.accepts(server, member, membership.X509, KEY) is takes_certificate
    assert membership.accepts(server, member, "another keyfile", KEY) is False


def test_a_certificate_is_a_members_only_with_exactly_the_same_o_ou_and_dc():
    server = process("x509")
    stranger = command_from((("commonName", "db2"), ("organizationName", "monitoring-store")))
    assert membership.accepts(server, stranger, membership.X509, KEY) is False
    extra = command_from((*MEMBER, ("organizationalUnitName", "another-unit")))
    assert membership.accepts(server, extra, membership.X509, KEY) is False
    reordered = command_from((("commonName", "db3"), MEMBER[1], MEMBER[0]))
    assert membership.accepts(server, reordered, membership.X509, KEY) is True
    assert membership.accepts(server, command_from(()), membership.X509, KEY) is False  # no certificate
    without_attributes = process("x509")
    without_attributes.extra_state["member_attributes"] = []
    assert membership.accepts(without_attributes, command_from(MEMBER), membership.X509, KEY) is False


def test_without_keyfile_or_mode_there_is_no_access_control_between_members():
    server = SimpleNamespace(settings=SimpleNamespace(parsed_options={}), extra_state={})
    assert membership.mode(server) == "undefined"
    assert membership.accepts(server, command_from(()), "", "") is True
