-- Back to the ciphertext in `records` and past versions copied into `record_history`
-- (their replacement time becomes the time they were written, at most).
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
INSERT INTO record_history (vault_pk, record_id, version, deleted, ciphertext, replaced_at)
    SELECT v.vault_pk, v.record_id, v.version, v.deleted, v.ciphertext, v.written_at
    FROM record_versions v
    WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.body = v.id);
ALTER TABLE records ADD COLUMN ciphertext BLOB NOT NULL DEFAULT x'';
UPDATE records SET ciphertext = (SELECT v.ciphertext FROM record_versions v WHERE v.id = records.body);
ALTER TABLE records DROP COLUMN body;
DROP TABLE record_versions;
