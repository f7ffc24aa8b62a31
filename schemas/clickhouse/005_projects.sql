-- Projects and their keys. Only a SHA-256 of each key is stored.
CREATE TABLE IF NOT EXISTS {db}.projects
(
    key_hash   String,
    project_id String,
    name       String,
    key_kind   LowCardinality(String),
    key_prefix String,
    created_at DateTime64(3, 'UTC'),
    revoked    Bool DEFAULT false
)
ENGINE = ReplacingMergeTree
ORDER BY key_hash;
