"""Threshold rules, root causes, the alert lifecycle and the intraday watch."""
