"""Alerts service: routes warnings, escalations and decisions to the regulators who must act."""
