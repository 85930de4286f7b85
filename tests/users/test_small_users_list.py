"""Issue 15 item 12: the users list counts in correct English, and a configuration that does not exist is said so
(a 400 naming it in the API, a message beside the field in the console) instead of listing nobody."""

import pytest
from django.urls import reverse

from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client, support_user):
    client.force_login(support_user)
    return client


def test_one_match_is_singular_and_more_are_plural(support):
    make_user(name="Ann Archer")
    make_user(name="Anna Baker")
    make_user(name="Cy Cole")
    one = support.get(reverse("users:list"), {"search": "Cole"}).content.decode()
    assert "1 user matches the filters" in one
    two = support.get(reverse("users:list"), {"search": "Ann"}).content.decode()
    assert "2 users match the filters" in two


def test_an_unknown_configuration_is_a_400_naming_it_in_the_api(admin_client_api):
    make_user(configuration=make_configuration())
    response = admin_client_api.get("/api/v1/users/", {"configuration": "999"})
    assert response.status_code == 400
    assert response.json() == {
        "configuration": ["Configuration 999 does not exist: choose one from the list, or 'none' for users with none."]
    }


def test_an_unknown_configuration_is_said_beside_the_field_in_the_console(support):
    page = support.get(reverse("users:list"), {"configuration": "999"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="filter-configuration-error"' in text
    assert "Configuration 999 does not exist" in text


def test_an_existing_configuration_still_filters(admin_client_api):
    configuration = make_configuration()
    user = make_user(configuration=configuration)
    make_user()
    response = admin_client_api.get("/api/v1/users/", {"configuration": str(configuration.pk)})
    assert [row["id"] for row in response.json()["results"]] == [user.pk]
