"""The pure policy core: permissions, tiers, grants, decisions, enforcement plans.

No I/O and no clock reads happen here, and nothing else of corral's is
imported, so every decision is a function of its inputs and testable alone.
"""
