"""The write side: what a publisher (a hospital, a patient's device) runs.

Data goes down one way on ``add``: record -> commitment -> sealed payload -> signed event -> log
-> store. :mod:`.publisher` decides what is written and assembles bundles (the one bundle
assembler); :mod:`.store` opens a home (its files: :mod:`.home`), runs each operation as one
transaction and holds the records, over the parts that keep what they are given
(:mod:`.tables`: events, grants, checkpoints, journal, the resource map; :mod:`.versions`:
sealed versions; :mod:`.tree`: the stored Merkle tree); :mod:`.identity` says which record a
FHIR resource is. Each other concern of a store is a part of its own, reached as an attribute
of the store: :mod:`.access` (``store.access``: grants, revocations, receipts, erasure),
:mod:`.keys` (``store.keys``: the log's keys, handover, key history), :mod:`.checkpoints`
(``store.checkpoints``) and :mod:`.journal` (``store.journal``: the anchoring journal).
:mod:`.check` is ``okeios check``; :mod:`.anchoring` sends checkpoints to a chain through the
crash-safe journal.

Never imports :mod:`okeios._internal.verify`: a verifier runs nothing of the publisher's machinery,
and the publisher checks nothing with the verifier's code (it builds, the verifier judges).
"""
