"""Retention: the encrypted vault (envelope encryption at rest) and its keyring.

`retention.keyring` holds the key-encryption keys and the keyed-hash secret behind the `KeyProvider`
protocol; `retention.vault` seals proof blobs and personal data under per-artifact data keys. Later
modules here add the retention policy, purge runs (crypto-shredding) and purge certificates.
"""
