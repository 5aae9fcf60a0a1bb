"""Read the records of an offline W&B run file (`run-<id>.wandb`).

wandb 0.31 writes them from its Go core and ships no Python reader, so this reads the
format itself: a 7-byte header (`:W&B`, 0xBEE1, version 0), then LevelDB log blocks of
32 KiB, each record a 7-byte header (CRC32, length, type: full/first/middle/last) and its
bytes; whole records are wandb's `Record` protobufs (wandb.proto.wandb_internal_pb2).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = b":W&B\xe1\xbe\x00"
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data.startswith(HEADER), data[:8]
    out: list[Any] = []
    position, pending = len(HEADER), b""
    while position + 7 <= len(data):
        left = BLOCK - position % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind in (FULL, FIRST):
            pending = chunk
        else:
            pending += chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pending)
            out.append(record)
    return out


def by_kind(path: Path, kind: str) -> list[Any]:
    return [getattr(r, kind) for r in records(path) if r.WhichOneof("record_type") == kind]
