"""The agent protocol codec (blockssh.keys.agent_codec): pure functions, hostile input refused."""

from __future__ import annotations

import pytest

from blockssh.keys import create_certificate, generate_private_key
from blockssh.keys.agent_codec import (
    DEFAULT_MAX_AGENT_MESSAGE,
    MAX_AGENT_IDENTITIES,
    SSH_AGENT_RSA_SHA2_256,
    SSH_AGENT_RSA_SHA2_512,
    AgentError,
    AgentMsg,
    decode_identities,
    decode_sign_response,
    encode_add_identity,
    encode_message,
    encode_sign_request,
    message_length,
    sign_flags_for,
    split_message,
)
from blockssh.keys.certificate import KeyPair
from blockssh.proto.wire import Reader, string, uint32


def test_framing_round_trip_and_limits() -> None:
    framed = encode_message(AgentMsg.REQUEST_IDENTITIES)
    assert framed == b"\x00\x00\x00\x01\x0b"
    assert message_length(framed[:4]) == 1
    assert split_message(framed[4:]) == (11, b"")
    with pytest.raises(AgentError, match="limit"):
        message_length(uint32(DEFAULT_MAX_AGENT_MESSAGE + 1))
    with pytest.raises(AgentError):
        message_length(uint32(0))
    with pytest.raises(AgentError):
        message_length(b"\x00\x00")
    with pytest.raises(AgentError, match="limit"):
        encode_message(AgentMsg.SIGN_REQUEST, b"x" * DEFAULT_MAX_AGENT_MESSAGE)


def test_identities_decoding() -> None:
    key = generate_private_key("ssh-ed25519")
    body = uint32(2) + string(key.public_blob) + string("first") + string(b"\x01\x02") + string("second")
    first, second = decode_identities(body)
    assert first.comment == "first" and first.parse() == key.public_only()
    assert second.blob == b"\x01\x02"
    for bad in (uint32(1), uint32(1) + string(key.public_blob), body + b"trailing", b""):
        with pytest.raises(AgentError):
            decode_identities(bad)
    with pytest.raises(AgentError, match="identities"):
        decode_identities(uint32(MAX_AGENT_IDENTITIES + 1))


def test_sign_flags_and_response_check() -> None:
    assert sign_flags_for("rsa-sha2-512") == SSH_AGENT_RSA_SHA2_512
    assert sign_flags_for("rsa-sha2-256-cert-v01@openssh.com") == SSH_AGENT_RSA_SHA2_256
    assert sign_flags_for("ssh-ed25519") == 0
    assert sign_flags_for(None) == 0
    signature = string("rsa-sha2-512") + string(b"sig")
    assert decode_sign_response(string(signature), "rsa-sha2-512-cert-v01@openssh.com") == signature
    with pytest.raises(AgentError, match="instead of"):
        decode_sign_response(string(string("ssh-rsa") + string(b"sig")), "rsa-sha2-256")
    with pytest.raises(AgentError):
        decode_sign_response(b"\x00\x00", None)
    request = Reader(encode_sign_request(b"blob", b"data", 4))
    assert (request.get_string(), request.get_string(), request.get_uint32()) == (b"blob", b"data", 4)


@pytest.mark.parametrize("algorithm", ["ssh-ed25519", "ecdsa-sha2-nistp384", "ssh-rsa"])
def test_add_identity_encodings(algorithm: str) -> None:
    key = generate_private_key(algorithm, 2048 if algorithm == "ssh-rsa" else None, comment="c")
    msg_type, body = encode_add_identity(key)
    assert msg_type == AgentMsg.ADD_IDENTITY
    reader = Reader(body)
    assert reader.get_ascii() == algorithm
    msg_type, body = encode_add_identity(key, "x", lifetime=60, confirm=True)
    assert msg_type == AgentMsg.ADD_ID_CONSTRAINED
    assert body.endswith(b"\x01" + uint32(60) + b"\x02")
    ca = generate_private_key("ssh-ed25519")
    cert = create_certificate(ca, key.public_only(), 1, "id", ["user"])
    msg_type, body = encode_add_identity(KeyPair(key, cert))
    reader = Reader(body)
    assert reader.get_ascii() == cert.algorithm
    assert reader.get_string() == cert.public_blob
    with pytest.raises(AgentError):
        encode_add_identity(key.public_only())
    with pytest.raises(AgentError):
        encode_add_identity(key, lifetime=0)
