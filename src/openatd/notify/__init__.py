"""OpenATD notify."""
