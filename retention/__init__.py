"""Retention: the policy, legal holds, retention plans and runs (crypto-shredding), purge certificates
and key-encryption-key lifecycle.

The vault it purges from (envelope encryption at rest, the keyring) is a shared building block in
`lastmile.vault`; this package only decides what is due and carries out the purge.
"""
