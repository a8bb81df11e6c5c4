"""The shared kernel of the services: what more than one service's rules need (findings' ids
and parameters, quarters and months, the order ledger), so that no service imports another."""
