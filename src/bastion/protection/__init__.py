"""User protection: cooling-off period, mistaken-deposit recovery, account protections."""
