"""The change feeds: what tells the product that a user's data changed, so that only changed objects are synced.

- `dirty`: the one way a feed reports a change (marks user objects dirty; the dispatcher queues their runs).
- `salesforce`: the org-level feed (one integration identity, one `queryAll` per object since a watermark).
- `ews`: EWS streaming subscriptions held by the listener.
- `graph`: Graph change notifications (subscriptions, renewal, the notification endpoint) and delta polling
  where no public notification URL is configured.
- `listener`: the long-running process (`manage.py listen`) that holds a lease and drives the feeds.
- `coverage`: whether an object's changes are reported by healthy feeds (then it is swept, not polled).
"""
