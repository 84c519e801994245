"""Pure values and rules: tenants, users, applications, permissions, scopes and consent policy.

Nothing here touches a database, the network or a web framework.
"""
