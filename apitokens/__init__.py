"""API tokens: hashed, named, expiring and revocable credentials for the REST API (``Authorization: Token <key>``)."""
