"""OpenATD alerts."""
