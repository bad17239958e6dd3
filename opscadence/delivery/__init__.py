"""Getting messages out: Slack clients and the idempotent deliver-or-outbox step."""
