"""OpenATD web."""
