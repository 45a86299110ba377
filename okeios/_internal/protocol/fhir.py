"""FHIR in: the resources of a FHIR JSON file (a resource, a Bundle, or FHIR NDJSON) and a
resource's identity (``resourceType``, ``id``, ``meta.versionId``).

Pure parsing over bytes and a readable binary stream, below the write side that ingests by
identity; the other direction (a record's history as FHIR Provenance and AuditEvent) is a
report, :mod:`okeios._internal.report.fhir`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from okeios._internal.protocol.canonical import JSONValue, parse_json
from okeios.errors import InputError

__all__ = [
    "MAX_FILE_BYTES",
    "fhir_resources",
    "resource_identity",
    "stream_resources",
]

#: The largest input read whole: a resource, a Bundle, or one line of NDJSON (64 MiB).
MAX_FILE_BYTES = 64 * 1024 * 1024

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_RESOURCE_ID = re.compile(r"[A-Za-z0-9.\-]{1,64}")


def fhir_resources(data: bytes) -> list[bytes | JSONValue]:
    """The resources in a FHIR JSON file: each ``entry[].resource`` of a Bundle, the lines of
    FHIR NDJSON (the Bulk Data export format: one resource per line), else the file itself."""
    try:
        value = parse_json(data)
    except InputError:
        if len([line for line in data.splitlines() if line.strip()]) < 2:
            raise
        return _ndjson(data)
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise InputError("a FHIR Bundle's entry must be an array")
        resources: list[bytes | JSONValue] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                raise InputError(f"FHIR Bundle entry {i} has no resource object")
            resources.append(entry["resource"])
        return resources
    if not isinstance(value, dict):
        raise InputError("a FHIR resource is a JSON object")
    return [value]


def _ndjson(data: bytes) -> list[bytes | JSONValue]:
    lines = enumerate(data.splitlines(), 1)
    return [_ndjson_object(line, f"NDJSON line {n}") for n, line in lines if line.strip()]


def _ndjson_object(line: bytes, where: str) -> JSONValue:
    """One NDJSON line's resource; errors name the line (``where``)."""
    try:
        item = parse_json(line)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    if not isinstance(item, dict):
        raise InputError(f"{where} is not a JSON object")
    return item


def stream_resources(
    stream: BinaryIO, *, limit: int, name: str = "input"
) -> Iterator[tuple[str, bytes | JSONValue]]:
    """The resources of a FHIR JSON file read from ``stream``, each with where it is.

    Reads as :func:`fhir_resources` decides (the same files give the same resources) but keeps
    FHIR NDJSON streamed: when the first non-blank line is a complete JSON value and another
    non-blank line follows, the file is NDJSON and its lines are parsed one at a time, each at
    most ``limit`` bytes (memory stays bounded whatever the file's length), and each yielded as
    ``("NAME line N", resource)``. Anything else (a resource, a Bundle) is read whole, at most
    ``limit`` bytes, and yielded as ``("NAME", resource)`` or ``("NAME entry I", resource)``.
    Errors are :class:`~okeios.errors.InputError` naming the file and the line or entry.
    """
    head: list[bytes] = []
    size = 0
    first: tuple[int, bytes] | None = None
    n = 0
    while True:  # the first non-blank line, then the next one: which kind of file is this?
        line = stream.readline(limit + 1)
        if not line:
            break
        n += 1
        size += len(line)
        if first is not None and len(line) > limit:  # NDJSON with a line too long
            raise InputError(f"{name} line {n} is longer than the {limit}-byte limit")
        if first is None and size > limit:
            raise InputError(_too_large(name, limit))
        head.append(line)
        if not line.strip():
            continue
        if first is not None:
            yield from _stream_ndjson(stream, first, (n, line), limit=limit, name=name)
            return
        try:
            parse_json(line)
        except InputError:
            break  # not one JSON value per line: a whole document
        first = (n, line)
    data = b"".join(head)
    rest = stream.read(limit + 1 - len(data))
    if len(data) + len(rest) > limit:
        raise InputError(_too_large(name, limit))
    data += rest
    try:
        resources = fhir_resources(data)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from exc
    for i, resource in enumerate(resources):
        yield (name if len(resources) == 1 else f"{name} entry {i}"), resource


def _too_large(name: str, limit: int) -> str:
    return (
        f"{name} is larger than the {limit}-byte limit for a whole JSON file (a resource or a "
        "Bundle is parsed whole); export large data as FHIR NDJSON (one resource per line), "
        "which is read line by line, or split the Bundle"
    )


def _stream_ndjson(
    stream: BinaryIO,
    first: tuple[int, bytes],
    second: tuple[int, bytes],
    *,
    limit: int,
    name: str,
) -> Iterator[tuple[str, bytes | JSONValue]]:
    def lines() -> Iterator[tuple[int, bytes]]:
        yield first
        yield second
        n = second[0]
        while True:
            line = stream.readline(limit + 1)
            if not line:
                return
            n += 1
            if len(line) > limit:
                raise InputError(f"{name} line {n} is longer than the {limit}-byte limit")
            if line.strip():
                yield n, line

    for n, line in lines():
        where = f"{name} line {n}"
        yield where, _ndjson_object(line, where)


def resource_identity(value: JSONValue) -> tuple[str, str, str | None] | None:
    """``(resourceType, id, meta.versionId)`` of a FHIR resource that has a valid type and id,
    else ``None`` (not a FHIR resource, or one without an id)."""
    if not isinstance(value, dict):
        return None
    kind, ident = value.get("resourceType"), value.get("id")
    if not (
        isinstance(kind, str)
        and isinstance(ident, str)
        and _RESOURCE_TYPE.fullmatch(kind)
        and _RESOURCE_ID.fullmatch(ident)
    ):
        return None
    meta = value.get("meta")
    version_id = meta.get("versionId") if isinstance(meta, dict) else None
    return kind, ident, version_id if isinstance(version_id, str) else None
