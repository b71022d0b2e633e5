"""Due diligence: triggers as data open requests to users (questionnaire, source-of-funds/wealth documents),
operators review them, withdrawals above a limit are held until a request is approved (docs/due-diligence.md)."""
