"""Ingest jobs: read the landing folder, then publish the daily partitions it touched."""

import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets("landing_intake").without_checks(),
    description="Read every new file version of the landing folder into the warehouse.",
)

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.assets("orders", "events", "proofs", "messages").without_checks(),
    description="Rebuild the published daily partitions of orders, events, proofs and messages.",
)
