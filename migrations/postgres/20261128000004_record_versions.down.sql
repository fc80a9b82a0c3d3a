-- Back to the ciphertext in `records` and past versions copied into `record_history`
-- (their replacement time becomes the time they were written, at most).
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
INSERT INTO record_history (vault_pk, record_id, version, deleted, ciphertext, replaced_at)
    SELECT v.vault_pk, v.record_id, v.version, v.deleted, v.ciphertext, v.written_at
    FROM record_versions v
    WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.body = v.id);
ALTER TABLE records ADD COLUMN ciphertext BYTEA NOT NULL DEFAULT ''::bytea;
UPDATE records SET ciphertext = (SELECT v.ciphertext FROM record_versions v WHERE v.id = records.body);
ALTER TABLE records ALTER COLUMN ciphertext DROP DEFAULT;
ALTER TABLE records DROP COLUMN body;
DROP TABLE record_versions;
