"""Anomaly detection on KPI series (no Prefect, no warehouse writes)."""
