"""Every algorithm blockssh and OpenSSH's sshd have in common, one at a time, through the asyncio client.

Each case varies one category (key exchange, cipher, MAC or host key algorithm) and keeps the
defaults for the others; MAC cases force ``aes128-ctr`` so a MAC is negotiated at all. Each case
runs one command and checks its stdout, stderr and exit status, and that the connection reports
the negotiated algorithm. The cases run concurrently (one module-scoped batch) and each test id
checks its own result, so one id per algorithm stays cheap.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from blockssh.proto.algorithms.cipher import CIPHER_ALGORITHMS
from blockssh.proto.algorithms.mac import MAC_ALGORITHMS
from blockssh.proto.algorithms.policy import HOST_KEY_ALGORITHMS
from blockssh.proto.kex.methods import KEX_ALGORITHMS

from interop.aio_helpers import COMMAND, connected, run
from interop.sshd_fixture import SSHD

MAC_TEST_CIPHER = "aes128-ctr"  # not AEAD: the MAC under test is really used
CASE_TIMEOUT = 45.0


@dataclass(frozen=True)
class Case:
    category: str  # the sshd.algorithms key: "kex", "cipher", "mac" or "hostkey"
    name: str
    connect_kwargs: dict[str, Any] = field(hash=False, compare=False)
    expected: dict[str, str] = field(hash=False, compare=False)  # get_extra_info name -> value

    @property
    def id(self) -> str:
        return f"{self.category}-{self.name}"


def _cases() -> list[Case]:
    cases = [Case("kex", name, {"kex_algs": [name]}, {"kex": name}) for name in KEX_ALGORITHMS]
    for name, spec in CIPHER_ALGORITHMS.items():
        expected = {"send_cipher": name, "recv_cipher": name}
        if spec.is_aead:
            expected.update(send_mac="", recv_mac="")  # AEAD ciphers negotiate no MAC
        cases.append(Case("cipher", name, {"encryption_algs": [name]}, expected))
    for name in MAC_ALGORITHMS:
        expected = {"send_mac": name, "recv_mac": name, "send_cipher": MAC_TEST_CIPHER, "recv_cipher": MAC_TEST_CIPHER}
        cases.append(Case("mac", name, {"encryption_algs": [MAC_TEST_CIPHER], "mac_algs": [name]}, expected))
    # ssh-rsa (SHA-1) is off by default; naming it explicitly enables it, so it is a case too.
    for name in HOST_KEY_ALGORITHMS:
        cases.append(Case("hostkey", name, {"server_host_key_algs": [name]}, {"host_key_algorithm": name}))
    return cases


CASES = _cases()


def offered_cases(server: SSHD) -> list[Case]:
    """The cases the server can take part in."""
    return [c for c in CASES if c.name in server.algorithms[c.category]]


@dataclass
class Outcome:
    stdout: Any = None
    stderr: Any = None
    exit_status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    host_key_type: str | None = None
    elapsed: float = 0.0
    error: BaseException | None = None


async def _run_case(server: SSHD, case: Case) -> Outcome:
    outcome = Outcome()
    start = time.monotonic()
    try:
        async with connected(server, **case.connect_kwargs) as conn:
            result = await conn.run(COMMAND)
            outcome.stdout, outcome.stderr, outcome.exit_status = result.stdout, result.stderr, result.exit_status
            names = ("kex", "host_key_algorithm", "send_cipher", "recv_cipher", "send_mac", "recv_mac", "strict_kex")
            outcome.extra = {name: conn.get_extra_info(name) for name in names}
            outcome.host_key_type = conn.server_host_key.algorithm
    except BaseException as exc:  # noqa: BLE001 - reported by the case's own test
        outcome.error = exc
    outcome.elapsed = time.monotonic() - start
    return outcome


@pytest.fixture(scope="module")
def matrix(sshd: SSHD) -> dict[str, Outcome]:
    """Run every offered case concurrently, once per module."""
    cases = offered_cases(sshd)

    async def main() -> list[Outcome]:
        return await asyncio.gather(*(asyncio.wait_for(_run_case(sshd, c), CASE_TIMEOUT) for c in cases))

    outcomes = run(main(), timeout=CASE_TIMEOUT + 15)
    return {case.id: outcome for case, outcome in zip(cases, outcomes, strict=True)}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_algorithm(case: Case, sshd: SSHD, matrix: dict[str, Outcome]) -> None:
    if case.id not in matrix:
        pytest.skip(f"sshd does not offer {case.name} ({case.category}: {sshd.algorithms[case.category]})")
    outcome = matrix[case.id]
    if outcome.error is not None:
        raise outcome.error
    assert (outcome.stdout, outcome.stderr, outcome.exit_status) == ("out", "err", 7)
    for name, value in case.expected.items():
        assert outcome.extra[name] == value, f"get_extra_info({name!r})"
    assert outcome.extra["strict_kex"] is True
    if case.category == "hostkey":
        expected_type = "ssh-rsa" if case.name.startswith("rsa-sha2-") else case.name
        assert outcome.host_key_type == expected_type


@pytest.mark.timeout(30)
def test_matrix_is_not_vacuous(sshd: SSHD) -> None:
    """A broken fixture or an emptied registry must not make the matrix pass by skipping."""
    offered = offered_cases(sshd)
    assert offered
    counts = {
        category: sum(c.category == category for c in offered) for category in ("kex", "cipher", "mac", "hostkey")
    }
    assert counts["kex"] >= 8, counts
    assert counts["cipher"] >= 6, counts
    assert counts["mac"] >= 6, counts
    assert counts["hostkey"] >= 5, counts
    # Every case id is unique, so each algorithm really has its own test.
    assert len({c.id for c in CASES}) == len(CASES)


# -- compression ----------------------------------------------------------------------------------

SIZE = 8 * 1024 * 1024


async def _transfer(server: SSHD, compression: str) -> tuple[int, int, int, int, str]:
    """Download and upload SIZE zero bytes; return (downloaded, uploaded per wc, wire in, wire out, method)."""
    async with connected(server, compression_algs=[compression]) as conn:
        down = await conn.run(f"head -c {SIZE} /dev/zero", encoding=None, check=True)
        assert down.stdout == bytes(SIZE)
        up = await conn.run("wc -c", input=bytes(SIZE), check=True)
        transport = conn._core.transport
        # bytes_received/bytes_sent count wire bytes since the last key exchange: with the default
        # 1 GiB rekey limit there was none after the first, so they cover both transfers.
        assert transport.kex_count == 1
        return (
            len(down.stdout),
            int(up.stdout),
            transport.bytes_received,
            transport.bytes_sent,
            conn.get_extra_info("compression"),
        )


@pytest.mark.timeout(90)
def test_compression_zlib_openssh(sshd: SSHD) -> None:
    if "zlib@openssh.com" not in sshd.algorithms["compression"]:
        pytest.skip("sshd does not allow compression")

    async def main() -> tuple[Any, Any]:
        return await asyncio.gather(_transfer(sshd, "zlib@openssh.com"), _transfer(sshd, "none"))

    zlib, plain = run(main(), timeout=80)
    assert zlib[:2] == plain[:2] == (SIZE, SIZE)
    assert zlib[4] == "zlib@openssh.com" and plain[4] == "none"
    # Without compression the wire carries at least the payload; with it, zeros shrink ~1000x.
    assert plain[2] > SIZE and plain[3] > SIZE
    assert zlib[2] < SIZE // 20, f"received {zlib[2]} wire bytes for {SIZE} bytes of zeros"
    assert zlib[3] < SIZE // 20, f"sent {zlib[3]} wire bytes for {SIZE} bytes of zeros"
