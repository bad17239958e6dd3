"""The daily cadence's numbers: KPI measures over a range of days, marts, the funnel."""
