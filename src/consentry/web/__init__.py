"""HTTP entry points: the identity endpoints, the interaction pages and (later) Graph and the portal."""
