"""corral.audit."""
