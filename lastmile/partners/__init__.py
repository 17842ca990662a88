"""Partner carrier feeds: payloads as carriers send them, mapped into the canonical view by data files.

    LANDING/partners/<partner_id>/...   -> partner_events, events (source partner:<id>), proofs, quarantine

* `mapping`: format files (formats/<format>.yaml: where the fields are, code tables) and partner configs
  (config/<partner_id>.yaml or LASTMILE_HOME/partners/<partner_id>.yaml: which format, extra codes).
* `feed`: one payload -> partner events (pure; no database).
* `ingest`: called by lastmile.ingest for files under partners/; keeps ingest's guarantees.
The checks partner.unmapped_code, partner.new_code and partner.reason_drift live in quality_checks.
See docs/partners.md.
"""

from lastmile.partners.feed import FeedEvent, partner_event_id, read_payload
from lastmile.partners.mapping import MappingError, Partner, PartnerRegistry

__all__ = ["FeedEvent", "MappingError", "Partner", "PartnerRegistry", "partner_event_id", "read_payload"]
