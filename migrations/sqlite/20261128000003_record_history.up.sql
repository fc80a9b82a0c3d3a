-- Record history (PROTOCOL.md, "History"): the sealed versions a push replaced, tombstones
-- included, at most --history-versions per record (the newest), each kept until
-- --history-retention after it was replaced. Ciphertext only, as in records; a device
-- opens each version bound to its record id and version, so the server cannot forge or
-- reorder history.
CREATE TABLE record_history (
    vault_pk     INTEGER NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    record_id    BLOB    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    deleted      INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    replaced_at  INTEGER NOT NULL,
    PRIMARY KEY (vault_pk, record_id, version)
);
CREATE INDEX record_history_age ON record_history (replaced_at);
