"""Errors a user can cause and fix. The command line prints them as one line, never a traceback."""


class LastmileError(Exception):
    """Base for every user-facing error: the message is one clear line."""


class SettingsError(LastmileError):
    """A setting is malformed; the message names the setting and where it came from."""


class VaultError(LastmileError):
    """The vault refused an operation (wrong key, tampered ciphertext, missing key, purged artifact)."""


class LandingError(LastmileError):
    """A landing folder cannot be read at all (missing, not a folder)."""
