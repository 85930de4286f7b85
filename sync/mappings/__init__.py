"""Field maps between Salesforce records, Exchange items and the engine's canonical records."""
