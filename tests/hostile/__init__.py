"""Hostile servers and the secrets they must never get back out of smtpwatch."""
