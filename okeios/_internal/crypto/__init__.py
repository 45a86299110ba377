"""Confidentiality: the encrypted formats, one module each (``docs/encryption.md``).

* :mod:`.payload`: sealed record payloads (AES-256-GCM under a per-version data key);
* :mod:`.recipients`: HPKE recipient keys, their EIP-712 bindings to addresses, wrapped data keys;
* :mod:`.keyfile`: protected secrets at rest (Argon2id or HKDF-SHA256);
* :mod:`.share`: the share file that carries one record version to one recipient.

Sits on :mod:`okeios._internal.protocol` (bindings are EIP-712 signed); used by both the write side
(:mod:`okeios._internal.publish` seals) and the read side (:mod:`okeios._internal.verify` opens
shares).
"""
