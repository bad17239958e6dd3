"""Prefect flows, one module per cadence. They only wire tasks; logic lives in opscadence/."""
