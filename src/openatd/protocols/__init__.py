"""OpenATD protocols."""
