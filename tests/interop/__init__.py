"""Interop tests: blockssh against real peers (OpenSSH sshd/ssh, asyncssh, paramiko)."""
