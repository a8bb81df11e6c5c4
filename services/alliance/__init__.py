"""Alliance data exchange (000 §六(一), 004 §六(一), 002 §四(六)): share what partners need,
push it signed to each partner, verify and admit what partners push here.
Spec: docs/alliance-exchange.md.
"""
