"""The host-side filtering proxy that is a restricted pen's only way out."""
