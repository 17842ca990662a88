"""Carrier format mappings (data: one YAML file per format)."""
