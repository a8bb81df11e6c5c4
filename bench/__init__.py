"""Benchmarks (issue 9, first slice): `python -m bench --help`."""
