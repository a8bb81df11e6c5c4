"""Regulator dashboard (`python -m dashboard`): quota completion, warnings, escalations,
decisions, overdue payables and alert delivery, read from the output topics."""
