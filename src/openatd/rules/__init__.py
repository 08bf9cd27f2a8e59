"""OpenATD rules."""
