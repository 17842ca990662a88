"""Shipped partner configs (data: one YAML file per partner_id)."""
