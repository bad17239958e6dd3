"""The weekly cadence's analyses: trends and retention, attribution and ROI, RFM, A/B tests,
pain points. Each module computes on plain frames and renders a :class:`~.sections.WeeklySection`
of the weekly brief."""
