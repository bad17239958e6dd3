"""Data validation with Great Expectations before any number is computed."""
