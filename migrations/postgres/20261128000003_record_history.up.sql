-- Record history (PROTOCOL.md, "History"): the sealed versions a push replaced, tombstones
-- included, at most --history-versions per record (the newest), each kept until
-- --history-retention after it was replaced. Ciphertext only, as in records; a device
-- opens each version bound to its record id and version, so the server cannot forge or
-- reorder history.
CREATE TABLE record_history (
    vault_pk     BIGINT  NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    record_id    BYTEA   NOT NULL,
    version      BIGINT  NOT NULL CHECK (version >= 1),
    deleted      BOOLEAN NOT NULL,
    ciphertext   BYTEA   NOT NULL,
    replaced_at  BIGINT  NOT NULL,
    PRIMARY KEY (vault_pk, record_id, version)
);
CREATE INDEX record_history_age ON record_history (replaced_at);
