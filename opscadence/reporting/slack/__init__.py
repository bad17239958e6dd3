"""Slack Block Kit messages: the daily brief and backfill summary (brief), the alert lifecycle's (alerts)."""
