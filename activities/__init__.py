"""Temporal activities: all I/O (database, Slack, SMTP, HTTP), failures classified once."""
