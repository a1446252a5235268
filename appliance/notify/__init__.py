"""Outgoing mail (SMTP): deadline reminders that name a case, never its content."""
