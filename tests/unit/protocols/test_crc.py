"""The table-driven CRC-16s of ``protocols._common`` against catalogue check values, an
independent implementation (the ``crc`` package) and the ACKs of the GT06 document."""

from __future__ import annotations

import random

import pytest
from crc import Calculator, Crc16

from openatd.protocols._common import crc16_arc, crc16_x25
from openatd.protocols.gt06 import reply


def test_catalogue_check_values() -> None:
    # Greg Cook, "Catalogue of parametrised CRC algorithms": check = CRC of ASCII "123456789".
    assert crc16_x25(b"123456789") == 0x906E  # CRC-16/IBM-SDLC
    assert crc16_arc(b"123456789") == 0xBB3D  # CRC-16/ARC
    assert crc16_x25(b"") == 0x0000  # init 0xFFFF xorout 0xFFFF
    assert crc16_arc(b"") == 0x0000


def test_gt06_document_acks() -> None:
    # GT06N v1.8 §5.1.1 login reply: 78 78 05 01 00 01 D9 DC 0D 0A (CRC over 05 01 00 01).
    assert crc16_x25(bytes.fromhex("05010001")) == 0xD9DC
    assert reply(0x01, 1) == bytes.fromhex("787805010001d9dc0d0a")
    # §5.3.2 heartbeat (status) reply with serial 0x0005: 78 78 05 13 00 05 ... (CRC recomputed
    # by the independent implementation below).
    body = bytes.fromhex("05130005")
    assert reply(0x13, 5) == b"\x78\x78" + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


@pytest.mark.parametrize("seed", range(5))
def test_matches_an_independent_implementation(seed: int) -> None:
    rng = random.Random(seed)
    x25 = Calculator(Crc16.X25.value)
    arc = Calculator(Crc16.IBM.value)
    for n in range(0, 600, 7):
        data = rng.randbytes(n)
        assert crc16_x25(data) == x25.checksum(data)
        assert crc16_arc(data) == arc.checksum(data)
