"""lastmile: governance, compliance and analytics for last-mile delivery networks.

Shared building blocks live here: settings, the warehouse connection and schema, the canonical codes,
the sample-network generator and the ingest domain logic. Nothing in this package imports Dagster.
"""

__version__ = "0.1.0"
