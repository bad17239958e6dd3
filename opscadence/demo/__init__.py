"""The deterministic demo shop."""
