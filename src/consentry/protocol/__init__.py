"""OAuth 2.0 and OpenID Connect as the Microsoft identity platform speaks them, framework-neutral:
a neutral request comes in, a (status, body, headers) answer goes out.
"""
