"""Issue 15 item 12: assigning users comes back to the page's users section (#assignment), scrolled past the top of the
page: the message saying what happened is shown in that section, where the user is, not at the top."""

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.template.loader import render_to_string
from django.urls import reverse

from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_assignment_message_is_in_the_users_section(admin_client):
    configuration = make_configuration("Sales")
    user = make_user()
    response = admin_client.post(reverse("configurations:assign", args=[configuration.pk]), {"users": [user.pk]})
    assert response["Location"].endswith("#assignment")
    body = admin_client.get(response["Location"]).content.decode()
    message = body.index("1 user assigned.")
    assert body.index('id="assignment"') < message, "the message is above the section the page is scrolled to"
    assert body.count("1 user assigned.") == 1
    assert 'class="alert alert-success' in body[body.index('id="assignment"') : message]


def test_other_messages_stay_at_the_top():
    saved = Message(constants.SUCCESS, "Configuration “Fresh” saved.")
    assigned = Message(constants.SUCCESS, "1 user assigned.", extra_tags="assignment")
    top = render_to_string("_messages.html", {"messages": [saved, assigned], "skip": "assignment"})
    section = render_to_string("_messages.html", {"messages": [saved, assigned], "here": "assignment"})
    everywhere = render_to_string("_messages.html", {"messages": [saved, assigned]})
    assert "saved." in top and "assigned." not in top
    assert "assigned." in section and "saved." not in section
    assert "saved." in everywhere and "assigned." in everywhere
    assert "alert-success" in section and "alert-assignment" not in section
