"""The numbers, by cadence: analytics/daily, later weekly, monthly and the reviews."""
