"""The write side: what a publisher (a hospital, a patient's device) runs.

Data goes down one way on ``add``: record -> canonical bytes once -> commitment -> sealed
payload -> signed event -> log -> store. :mod:`.publisher` decides what is written, writes every
event through one function (``Publisher.append``: the chain rules, then the log's index and
rows) and assembles bundles (the one bundle assembler); :mod:`.ingest` prepares batches of new
records ahead, in an executor's workers or here. :mod:`.store` creates and opens a home (its
files and schema: :mod:`.home`) and wires its parts, each handed the unit of work of
:mod:`.unit` (the transactions, the tables of :mod:`.tables`, the sealed versions of
:mod:`.versions`, the stored Merkle tree of :mod:`.tree`, the publisher) rather than the store:
:mod:`.records` (adding, amending, deriving, listing, reading, exporting records; :mod:`.identity`
says which record a FHIR resource is), :mod:`.access` (``store.access``: grants, revocations,
receipts, erasure), :mod:`.keys` (``store.keys``: the log's keys, handover, key history),
:mod:`.checkpoints` (``store.checkpoints``) and :mod:`.journal` (``store.journal``: the
anchoring journal). :mod:`.check` is ``okeios check``; :mod:`.anchoring` sends checkpoints to a
chain through the crash-safe journal, and runs a key rotation's chain step.

Never imports :mod:`okeios._internal.verify`: a verifier runs nothing of the publisher's machinery,
and the publisher checks nothing with the verifier's code (it builds, the verifier judges).
"""
