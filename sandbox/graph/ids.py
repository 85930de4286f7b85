"""Opaque ids and change keys shaped like Exchange Online's (``AAMkA…`` base64), decodable by the emulator only.

An id carries the mailbox, the kind of object and its sequence number; an occurrence id also carries its
series master's number and the occurrence's original start date, so occurrences need no stored record.
"""

import base64
import binascii
import hashlib

PREFIX = "AAMkA"


def mailbox_key(upn: str) -> str:
    return hashlib.sha256(upn.lower().encode()).hexdigest()[:12]


def make_id(upn: str, kind: str, seq: int, extra: str = "") -> str:
    raw = f"{mailbox_key(upn)}|{kind}|{seq}|{extra}".encode()
    return PREFIX + base64.urlsafe_b64encode(b"\x00\x2e" + raw).decode()


def parse_id(value: str) -> tuple[str, str, int, str] | None:
    """(mailbox key, kind, seq, extra), or None if this is not an id the emulator made."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX):].encode())
        key, kind, seq, extra = raw[2:].decode().split("|", 3)
        return key, kind, int(seq), extra
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def change_key(record_id: str, version: int) -> str:
    digest = hashlib.sha256(f"{record_id}:{version}".encode()).digest()
    return base64.b64encode(b"\x10\x00\x00\x00\x16\x00\x00\x00" + digest[:22]).decode()


def etag(ck: str) -> str:
    return f'W/"{ck}"'
