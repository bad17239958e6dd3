"""Per-cadence compositions of the domain steps (Prefect-free), and the backfill over any cadence."""
