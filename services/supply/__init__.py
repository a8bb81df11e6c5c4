"""Supply service: manufacturer intake, stock and stoppages, shortage escalation, trading gates."""
