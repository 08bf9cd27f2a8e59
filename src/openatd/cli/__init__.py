"""OpenATD cli."""
