"""Outbound mail: the Mailer port and its SMTP adapter (the only SMTP in Consentry)."""
