"""corral.sandbox."""
