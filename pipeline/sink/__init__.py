"""Stage 5: rows out of records, and the clickhouse-connect writer that inserts them."""
