-- Typed columns the dialect adapters fill (schemas/dialects.md): Kitbase revenue events
-- (trackRevenue on the __analytics channel) and the $duration tag of timed events.
ALTER TABLE {db}.events
    ADD COLUMN IF NOT EXISTS revenue_amount   Nullable(Float64),
    ADD COLUMN IF NOT EXISTS revenue_currency LowCardinality(String),
    ADD COLUMN IF NOT EXISTS order_id         String,
    ADD COLUMN IF NOT EXISTS product_id       String,
    ADD COLUMN IF NOT EXISTS duration_ms      Nullable(Float64);

-- Privacy-dashboard websites: a public tracking code (pm-<random>-<ms>) -> project.
CREATE TABLE IF NOT EXISTS {db}.websites
(
    website_id    String,
    tracking_code String,
    project_id    String,
    name          String,
    domain        String,
    description   String,
    created_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY tracking_code;
