"""paramiko-compatible module path: ``from blockssh.agent import Agent, AgentKey, AgentRequestHandler``."""

from __future__ import annotations

from .keys.agent_codec import SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512, AgentError
from .sync.agent import SSH2_AGENT_SIGN_RESPONSE, Agent, AgentKey, AgentRequestHandler

#: paramiko's names for the signature flags.
SSH_AGENT_RSA_SHA2_256_FLAG = SSH_AGENT_RSA_SHA2_256
SSH_AGENT_RSA_SHA2_512_FLAG = SSH_AGENT_RSA_SHA2_512

__all__ = [
    "SSH2_AGENT_SIGN_RESPONSE",
    "SSH_AGENT_RSA_SHA2_256",
    "SSH_AGENT_RSA_SHA2_256_FLAG",
    "SSH_AGENT_RSA_SHA2_512",
    "SSH_AGENT_RSA_SHA2_512_FLAG",
    "Agent",
    "AgentError",
    "AgentKey",
    "AgentRequestHandler",
]
