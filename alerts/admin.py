# Alerts are read on the console's Alerts page and through the API (GET /api/v1/alerts/); the admin site does not
# list them, and their settings change only through alerts.services.update_settings (validated and audited).
