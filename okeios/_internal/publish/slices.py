"""The pieces of a store's unit of work that several parts use, each a ``typing.Protocol``
that a part's own slice extends (``RecordsUnit``, ``AccessUnit``, ``KeysUnit``,
``CheckpointsUnit``, ``JournalUnit``, ``ErasureUnit``, ``CheckUnit``) so that what they share is
declared once;
:class:`~okeios._internal.publish.unit.Unit` satisfies each of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from okeios._internal.publish.identity import Identities
    from okeios._internal.publish.publisher import Publisher
    from okeios._internal.publish.tables import Database, Events, Meta
    from okeios._internal.publish.tree import StoredTree
    from okeios._internal.publish.versions import SealedVersions

__all__ = ["LogClock", "MetaRows", "Publishing", "RecordTables", "StoredLog", "Transactional"]


class Transactional(Protocol):
    """One atomic step of the store: what is written inside it is kept whole or not at all."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class Publishing(Protocol):
    """The publisher that decides what is logged, and the randomness it draws from."""

    @property
    def publisher(self) -> Publisher: ...
    @property
    def rng(self) -> Callable[[int], bytes]: ...


class LogClock(Protocol):
    """The log's id and the clock that dates what is written into it."""

    @property
    def log_id(self) -> bytes: ...
    @property
    def clock(self) -> Callable[[], float]: ...


class MetaRows(Protocol):
    """The database and its meta rows (the store's settings and the work under way)."""

    @property
    def db(self) -> Database: ...
    @property
    def meta(self) -> Meta: ...


class StoredLog(Protocol):
    """The log as stored: its events and its Merkle tree."""

    @property
    def events(self) -> Events: ...
    @property
    def tree(self) -> StoredTree: ...


class RecordTables(Protocol):
    """The tables of a store's records: the events, the sealed versions and the identities."""

    @property
    def events(self) -> Events: ...
    @property
    def versions(self) -> SealedVersions: ...
    @property
    def identities(self) -> Identities: ...
