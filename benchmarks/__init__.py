"""corral's speed and memory suite: every figure a ratio against a baseline run alongside it.

Run it with ``make bench`` (or ``python -m benchmarks``). Figures are ratios, not
absolute times, because absolute times on a shared two-core machine move with
whatever else runs; a baseline measured in the same run, interleaved with corral,
moves with them.
"""
