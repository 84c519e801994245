"""The Microsoft Graph v1.0 subset served at ``{base}/v1.0`` (FastAPI, for its OpenAPI and validation)."""
