"""Connectors: the only modules that talk to Salesforce (simple-salesforce) and Exchange (exchangelib)."""
