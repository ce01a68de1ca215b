"""Read the history of an offline W&B run back from its ``run-*.wandb`` file.

wandb 0.31 has no public reader for offline runs. The file is a LevelDB-style
log (https://github.com/google/leveldb/blob/main/doc/log_format.md) of
``wandb_internal_pb2.Record`` protobufs:

* a 7-byte file header: ``b":W&B"``, magic ``0xBEE1`` (uint16 LE), version 0;
* 32 KiB blocks (the first one starts with the file header); each chunk has a
  7-byte header: CRC-32 of (type byte + data) (uint32 LE), length (uint16 LE),
  type (1 full, 2 first, 3 middle, 4 last), then the data; a block tail
  shorter than a chunk header is zero padding;
* a record is one full chunk, or a first, middles and a last chunk joined.

A ``history`` record holds one ``wandb.log`` call: items with a ``key`` (or a
``nested_key`` path, for media and histograms) and a JSON ``value_json``.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    """Every record of the log at ``path``, in order (checksums verified)."""
    data = Path(path).read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"{path} is not a W&B run log (header {ident!r}, {magic:#x}, {version})")
    position, pending = 7, b""
    while position + CHUNK_HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < CHUNK_HEADER:
            position += left
            continue
        checksum, length, kind = struct.unpack("<IHB", data[position : position + CHUNK_HEADER])
        if kind == 0 and length == 0:  # zero padding: the writer started a new block
            position += left
            continue
        chunk = data[position + CHUNK_HEADER : position + CHUNK_HEADER + length]
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != checksum:
            raise ValueError(f"{path}: bad checksum at byte {position}")
        position += CHUNK_HEADER + length
        if kind == FULL:
            payload: bytes | None = chunk
        elif kind == FIRST:
            pending, payload = chunk, None
        elif kind == MIDDLE:
            pending, payload = pending + chunk, None
        elif kind == LAST:
            payload, pending = pending + chunk, b""
        else:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {position}")
        if payload is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            yield record


def history(path: Path) -> list[dict[str, Any]]:
    """The logged rows: one dict per ``wandb.log`` call, nested keys as nested dicts."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        row: dict[str, Any] = {}
        for item in record.history.item:
            keys = list(item.nested_key) if item.nested_key else [item.key]
            target = row
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = json.loads(item.value_json)
        rows.append(row)
    return rows


def run_file(root: Path) -> Path:
    """The one ``run-*.wandb`` file under ``root/wandb/offline-run-*/``."""
    found = sorted(Path(root).glob("wandb/offline-run-*/run-*.wandb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one offline run under {root}, found {found}")
    return found[0]
