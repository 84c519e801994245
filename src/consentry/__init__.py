"""Consentry: an OAuth 2.0 / OpenID Connect identity provider with Entra-style consent governance."""

__version__ = "0.1.0"
