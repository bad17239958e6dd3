"""Golden snapshots of what the pipeline produces for the demo shop (see snapshot.py)."""
