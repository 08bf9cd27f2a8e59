"""OpenATD safeguards."""
