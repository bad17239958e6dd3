"""Rendering: the i18n catalogue and the Slack Block Kit messages."""
