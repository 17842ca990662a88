"""Verbs of the `lastmile` command beyond ingest: one module per domain, each adding its verbs to `cli`.

Every module in this package is imported by `pipelines.cli` at start-up (see `register_commands`), so a
domain adds a verb by adding a module here, without editing cli.py. A module defines click commands or
groups and attaches them with `cli.add_command(...)` (import `cli` from `pipelines.cli`).
"""
