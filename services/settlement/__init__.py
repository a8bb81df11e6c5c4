"""Settlement service: payment deadlines, the overdue chain, prepayments, the payment standard."""
