"""Benchmarks: `python -m bench.<name>`. Each prints ratios against a baseline measured in the same run."""
