"""Withdrawal risk: events in, explainable decisions out, rules as versioned data, a learned score,
the analysts' review queue and the monthly metrics. Knows nothing of HTTP."""
