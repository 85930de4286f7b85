"""Users for ``import_users`` (through an integration user's token) and a user's own record."""

from sync.connectors.salesforce import SalesforceUser


def test_list_active_users_gives_what_import_users_needs(org):
    integration = org.user("System Administrator")
    manager = org.user("Sales Manager")
    users = org.client(integration).list_active_users()
    by_name = {u.username: u for u in users}
    assert by_name[manager.username] == SalesforceUser(
        id=manager.id, username=manager.username, email=manager.email, name=f"Test User{manager.username[:10]}",
        profile="Sales Manager", active=True, time_zone="GMT")
    assert by_name[integration.username].profile == "System Administrator"
    assert [u.username for u in users] == sorted(u.username for u in users)
    assert all(u.active for u in users)


def test_user_info_is_the_token_owner(org, user):
    client = org.client(user)
    me = client.user_info()
    assert (me.id, me.username, me.email, me.profile) == (user.id, user.username, user.email, "Standard User")
    assert client.calls.by_operation == {"token": 1, "query": 1}
