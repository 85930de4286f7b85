"""The Graph notification endpoint (`POST /graph/notifications/`) without Graph: the validation handshake, change
notifications checked by subscription and client state (and the sync's own writes skipped), lifecycle
notifications routed, and every malformed request refused in a sentence, never with a 500."""

import json

import pytest
from django.db import OperationalError

from sync.connectors.graph.subscriptions import version_of
from sync.feeds import graph as feed
from sync.models import MailboxSubscription, RecordLink
from tests.factories import make_configuration, make_user
from users.models import UserObjectState

URL = "/graph/notifications/"
BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


@pytest.fixture
def configuration(db):
    return make_configuration(data_settings={"contacts": BOTH, "events": BOTH})


def _graph_user(owner: str, configuration):
    """A Graph user with a subscription per synced object: ids `sub-<owner>-<object>`, client states
    `<owner>-secret-<object>`."""
    user = make_user(f"{owner}@example.com", configuration=configuration, exchange_route="graph")
    for object_type in ("contacts", "events"):
        MailboxSubscription.objects.create(user=user, object=object_type, protocol="graph",
                                           subscription_id=f"sub-{owner}-{object_type}",
                                           client_state=f"{owner}-secret-{object_type}")
    return user


@pytest.fixture
def ada(configuration):
    return _graph_user("ada", configuration)


@pytest.fixture
def ben(configuration):
    return _graph_user("ben", configuration)


class Sent(list):
    """Lifecycle work sent to the workers by task name (`schedule_lifecycle`), instead of a broker."""


@pytest.fixture
def sent(monkeypatch) -> Sent:
    captured = Sent()

    class Signature:
        def __init__(self, name, args):
            self.name, self.args = name, args

        def apply_async(self, **options):
            captured.append((self.name, tuple(self.args), options.get("queue")))

    class App:
        @staticmethod
        def signature(name, args):
            return Signature(name, args)

    monkeypatch.setattr(feed, "current_app", App())
    return captured


def _dirty(user) -> set[str]:
    return set(UserObjectState.objects.filter(user=user, dirty_at__isnull=False).values_list("object", flat=True))


def _change(user, object_type="contacts", *, state=None, item="AAMkItem1", etag='W/"CQAAAB1"', kind="updated",
            subscription=None):
    owner = user.username.split("@")[0]
    return {"subscriptionId": subscription or f"sub-{owner}-{object_type}", "changeType": kind,
            "clientState": state if state is not None else f"{owner}-secret-{object_type}",
            "resource": f"Users/x/Contacts/{item}", "tenantId": "t",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Contact", "id": item, "@odata.etag": etag}}


def _post(client, body, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data, content_type="application/json", **extra)


# ---- the handshake and refusals ----------------------------------------------------------------------------------
def test_validation_handshake_echoes_the_token_as_plain_text(client, db):
    response = client.post(f"{URL}?validationToken=Validation%3A+Testing+client+application+reachability+<b>",
                           content_type="text/plain")
    assert response.status_code == 200
    assert response.content.decode() == "Validation: Testing client application reachability <b>"
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_validation_token_too_long_or_empty_is_refused(client, db):
    assert client.post(f"{URL}?validationToken={'x' * 2000}").status_code == 400
    assert client.post(f"{URL}?validationToken=").status_code == 400


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_only_post_is_served(client, db, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "POST" in response.content.decode()


@pytest.mark.parametrize("body", ["{not json", b"\xff\xfe", "[]", '{"value": 3}', '"text"'])
def test_malformed_bodies_get_400_with_a_sentence(client, db, body):
    response = _post(client, body)
    assert response.status_code == 400
    text = response.content.decode()
    assert text.endswith(".") and len(text.split()) > 4


def test_a_body_too_large_is_refused_unread(client, db):
    response = _post(client, {"value": [], "padding": "x" * 1_100_000})
    assert response.status_code == 413


# ---- change notifications ------------------------------------------------------------------------------------------
def test_a_genuine_notification_marks_only_that_users_object_dirty(client, ada, ben):
    response = _post(client, {"value": [_change(ada, "contacts")]})
    assert response.status_code == 202
    assert _dirty(ada) == {"contacts"}
    assert _dirty(ben) == set()
    assert MailboxSubscription.objects.get(user=ada, object="contacts").last_event_at is not None


def test_a_wrong_client_state_is_ignored(client, ada, ben):
    wrong = [_change(ada, state="ben-secret-contacts"), _change(ada, state=""), {**_change(ada), "clientState": None}]
    assert _post(client, {"value": wrong}).status_code == 202
    assert _dirty(ada) == set()
    assert feed.handle_notifications({"value": wrong}) == 0


def test_an_unknown_subscription_is_ignored(client, ada):
    assert _post(client, {"value": [_change(ada, subscription="sub-nobody")]}).status_code == 202
    assert _dirty(ada) == set()


def test_the_syncs_own_write_is_an_echo_and_marks_nothing(client, ada):
    RecordLink.objects.create(user=ada, object="contacts", salesforce_id="003000000000001AAA",
                              outlook_id="AAMkItem1", outlook_version="CQAAAB1")
    assert feed.handle_notifications({"value": [_change(ada, etag='W/"CQAAAB1"')]}) == 0
    assert _dirty(ada) == set()
    # The same item changed again in Outlook (a new version), or deleted: a real change.
    assert feed.handle_notifications({"value": [_change(ada, etag='W/"CQAAAB2"')]}) == 1
    assert _dirty(ada) == {"contacts"}


def test_a_deletion_of_a_linked_item_is_never_taken_for_an_echo(client, ada):
    RecordLink.objects.create(user=ada, object="contacts", salesforce_id="003000000000001AAA",
                              outlook_id="AAMkItem1", outlook_version="CQAAAB1")
    assert feed.handle_notifications({"value": [_change(ada, kind="deleted", etag="")]}) == 1


def test_task_versions_stored_as_whole_etags_are_echoes_too(client, configuration):
    user = make_user(configuration=make_configuration(data_settings={"tasks": BOTH}), exchange_route="graph")
    MailboxSubscription.objects.create(user=user, object="tasks", protocol="graph", subscription_id="sub-t",
                                       client_state="s")
    RecordLink.objects.create(user=user, object="tasks", salesforce_id="00T000000000001AAA", outlook_id="T1",
                              outlook_version='W/"T1v3"')
    note = {"subscriptionId": "sub-t", "clientState": "s", "changeType": "updated",
            "resourceData": {"id": "T1", "@odata.etag": 'W/"T1v3"'}}
    assert feed.handle_notifications({"value": [note]}) == 0


# ---- lifecycle notifications ---------------------------------------------------------------------------------------
def _lifecycle(user, event, object_type="events", state=None):
    owner = user.username.split("@")[0]
    return {"subscriptionId": f"sub-{owner}-{object_type}", "lifecycleEvent": event, "tenantId": "t",
            "clientState": state if state is not None else f"{owner}-secret-{object_type}",
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z"}


def test_missed_marks_dirty_at_once_and_asks_no_graph_work(client, ada, ben, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, {"value": [_lifecycle(ada, "missed")]}).status_code == 202
    assert _dirty(ada) == {"events"} and _dirty(ben) == set()
    assert sent == []


def test_subscription_removed_marks_dirty_and_sends_a_recreate_task(client, ada, ben, sent,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, {"value": [_lifecycle(ada, "subscriptionRemoved")]}).status_code == 202
    row = MailboxSubscription.objects.get(user=ada, object="events")
    assert _dirty(ada) == {"events"}
    assert row.state == MailboxSubscription.State.REMOVED
    assert sent == [("sync.tasks.graph_subscription_lifecycle", (row.pk, "recreate"), "default")]


def test_reauthorization_required_sends_a_task_and_marks_nothing(client, ada, ben, sent,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, {"value": [_lifecycle(ada, "reauthorizationRequired", "contacts"),
                                            _change(ada, "events")]})
    assert response.status_code == 202
    row = MailboxSubscription.objects.get(user=ada, object="contacts")
    assert sent == [("sync.tasks.graph_subscription_lifecycle", (row.pk, "reauthorize"), "default")]
    assert _dirty(ada) == {"events"}  # the change notification beside it, not the lifecycle one


def test_lifecycle_notifications_with_a_wrong_client_state_do_nothing(client, ada, ben, sent,
                                                                      django_capture_on_commit_callbacks):
    forged = [_lifecycle(ada, event, state="guess") for event in ("missed", "subscriptionRemoved",
                                                                  "reauthorizationRequired")]
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, {"value": forged}).status_code == 202
    assert _dirty(ada) == set() and sent == []
    assert MailboxSubscription.objects.get(user=ada, object="events").state == MailboxSubscription.State.ACTIVE


def test_a_bug_while_handling_still_answers_202(client, ada, monkeypatch):

    def broken(payload):
        raise RuntimeError("boom")

    monkeypatch.setattr("sync.graph_notifications.handle_notifications", broken)
    assert _post(client, {"value": [_change(ada)]}).status_code == 202


def test_a_database_outage_answers_503_so_graph_delivers_again(client, ada, monkeypatch):
    def unreachable(payload):
        raise OperationalError("database is locked")

    monkeypatch.setattr("sync.graph_notifications.handle_notifications", unreachable)
    response = _post(client, {"value": [_change(ada)]})
    assert response.status_code == 503
    assert response["Retry-After"] == "30" and response.content.decode().endswith(".")


@pytest.mark.parametrize(("etag", "version"), [('W/"CQAAAB1"', "CQAAAB1"), ('"CQAAAB1"', "CQAAAB1"),
                                               ("CQAAAB1", "CQAAAB1"), ("", ""), (None, "")])
def test_versions_are_read_out_of_etags(etag, version):
    assert version_of(etag) == version
