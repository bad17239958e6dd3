"""opscadence: the data side of an operations manager's cadence.

Everything in this package is plain Python (no Prefect import), so it can be
unit-tested and reused from the CLI, from Prefect tasks and from notebooks.
"""

__version__ = "0.1.0"
