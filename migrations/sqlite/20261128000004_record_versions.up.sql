-- Record versions (PROTOCOL.md, "History"): every sealed version of a record, the current
-- one included, written once, by the push that made it. `records` keeps the metadata of
-- the current version and points at its row (`body`): a push writes its ciphertext once
-- and copies nothing, and what it replaced stays where it is as history. Past versions
-- beyond --history-versions per record, or replaced longer ago than --history-retention,
-- are deleted by the housekeeping task (never by a push).
CREATE TABLE record_versions (
    id           INTEGER PRIMARY KEY,
    vault_pk     INTEGER NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    record_id    BLOB    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    deleted      INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    written_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX record_versions_key ON record_versions (vault_pk, record_id, version);
-- Past versions kept so far (below their record's current version), then the current ones.
-- A past version's time becomes the time it was written: its replacement's time, at most.
INSERT INTO record_versions (vault_pk, record_id, version, deleted, ciphertext, written_at)
    SELECT h.vault_pk, h.record_id, h.version, h.deleted, h.ciphertext, h.replaced_at
    FROM record_history h
    WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.vault_pk = h.vault_pk
                      AND r.record_id = h.record_id AND r.version <= h.version);
INSERT INTO record_versions (vault_pk, record_id, version, deleted, ciphertext, written_at)
    SELECT vault_pk, record_id, version, deleted, ciphertext, updated_at FROM records;
ALTER TABLE records ADD COLUMN body INTEGER NOT NULL DEFAULT 0;
UPDATE records SET body = (SELECT v.id FROM record_versions v WHERE v.vault_pk = records.vault_pk
                           AND v.record_id = records.record_id AND v.version = records.version);
ALTER TABLE records DROP COLUMN ciphertext;
DROP TABLE record_history;
