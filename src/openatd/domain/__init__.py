"""OpenATD domain."""
