"""Notifications: destinations and rules per project, delivered at least once.

See docs/notifications.md.

- ``config``: destinations and rules (validated from JSON), ``store``: kept in ClickHouse.
- ``rules``: which stored events a project's rules pick; ``outbox``: the core's notices port,
  the pending delivery rows inserted with a batch's events (so a kill -9 loses none).
- ``payloads``: webhook (signed), Slack, Discord and email bodies; ``delivery``: the worker
  that sends pending deliveries, in order per destination, retried by ``retries.notify``;
  ``threshold``: window rules evaluated on the stored events.
"""
