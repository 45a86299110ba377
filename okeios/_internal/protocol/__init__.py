"""The protocol: every byte okeios hashes or signs, defined once.

Pure and format-critical, guarded by test vectors: canonical JSON (:mod:`.canonical`), salted
commitments (:mod:`.commitment`), EIP-712 encoding (:mod:`.eip712`), events and checkpoints
(:mod:`.events`), signatures (:mod:`.signing`), the RFC 9162 log (:mod:`.merkle`), proof bundles
(:mod:`.bundle`), the published log file (:mod:`.logfile`) and the anchor types verification
reads through (:mod:`.anchors`).

Nothing here opens a file or a socket, and nothing here imports web3, eth-account or sqlite3:
a third party's verifier loads this layer and :mod:`okeios._internal.verify` only. Every other
layer sits above this one.
"""
