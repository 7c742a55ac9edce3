"""corral.manifest."""
