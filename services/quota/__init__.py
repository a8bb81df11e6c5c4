"""Quota service: running totals against agreed quantities, warnings and settlement suspensions."""
