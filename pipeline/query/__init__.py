"""The read side: SQL over the stored events for the read routes, the stats API (Plausible's
Stats API v2), funnels, retention, revenue, user profiles and live SQL. The edge's routes call
it; it runs its SQL through the ClickHouse client it is given (chDB, the storage owner, or a
server)."""
