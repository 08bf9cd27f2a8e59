"""OpenATD storage."""
