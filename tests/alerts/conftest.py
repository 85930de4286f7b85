import pytest

from alerts.models import AlertSettings


@pytest.fixture
def alert_settings(db):
    """Alerts by e-mail to ops@example.com, nothing else."""
    row = AlertSettings.load()
    row.emails = ["ops@example.com"]
    row.save()
    return row
