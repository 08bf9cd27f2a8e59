"""OpenATD api."""
