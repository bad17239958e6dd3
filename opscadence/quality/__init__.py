"""Data validation with Great Expectations before any number is computed.

``report`` (CheckResult, ValidationReport) · ``suites`` (the rules and their run-time
parameters) · ``gx_runtime`` (the GX context) · ``interpret`` (GX results → CheckResults) ·
``samples`` (PII-free samples) · the three paths: ``day`` (one day's frames), ``range`` (many
days in one GX run per table), ``sql`` (PostgreSQL partitions, in SQL) · ``store`` (the
warehouse side).
"""
