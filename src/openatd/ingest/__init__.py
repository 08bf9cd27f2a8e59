"""OpenATD ingest."""
