"""OpenATD checkins."""
