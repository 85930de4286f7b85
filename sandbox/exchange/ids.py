"""Opaque Exchange-style ids and change keys.

An id is base64 of a small binary structure, like Exchange's (whose item ids start with ``AAMk``): a 3-byte magic,
a kind byte (F folder, I item, O occurrence), a 64-bit sequence, a 32-bit instance index and the owner's address.
A change key is base64 of an 8-byte header and the 64-bit change number of the last write.
"""

import base64
import binascii

from sandbox.exchange.soap import EwsError

_MAGIC = b"\x00\x03\x24"
_ITEM_CK = b"\x09\x00\x00\x00\x16\x00\x00\x00"
_FOLDER_CK = b"\x01\x00\x00\x00\x16\x00\x00\x00"


def make_id(kind: str, mailbox: str, seq: int, index: int = 0) -> str:
    raw = _MAGIC + kind.encode() + seq.to_bytes(8, "big") + index.to_bytes(4, "big") + mailbox.encode()
    return base64.b64encode(raw).decode()


def parse_id(value: str | None) -> tuple[str, str, int, int]:
    """Return (kind, mailbox, seq, index); raise ErrorInvalidIdMalformed for anything else."""
    try:
        raw = base64.b64decode((value or "").encode(), validate=True)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorInvalidIdMalformed") from None
    if len(raw) < 17 or raw[:3] != _MAGIC or raw[3:4] not in (b"F", b"I", b"O"):
        raise EwsError("ErrorInvalidIdMalformed")
    try:
        mailbox = raw[16:].decode()
    except UnicodeDecodeError:
        raise EwsError("ErrorInvalidIdMalformed") from None
    return raw[3:4].decode(), mailbox, int.from_bytes(raw[4:12], "big"), int.from_bytes(raw[12:16], "big")


def make_change_key(change: int, folder: bool = False) -> str:
    return base64.b64encode((_FOLDER_CK if folder else _ITEM_CK) + change.to_bytes(8, "big")).decode()


def parse_change_key(value: str) -> int:
    try:
        raw = base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise EwsError("ErrorInvalidChangeKey") from None
    if len(raw) != 16 or raw[:8] not in (_ITEM_CK, _FOLDER_CK):
        raise EwsError("ErrorInvalidChangeKey")
    return int.from_bytes(raw[8:], "big")
