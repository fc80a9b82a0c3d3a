-- vaultsync schema v1 (SQLite). The server stores only what DESIGN.md allows: ciphertext,
-- versions, tombstone flags, the wrapped-key envelope, and hashes of tokens and verifiers.
CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY,
    username            TEXT    NOT NULL UNIQUE,
    auth_verifier_hash  BLOB    NOT NULL,
    created_at          INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    key_hash       BLOB    NOT NULL UNIQUE,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_indicator  TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    last_used_at   INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE vaults (
    id                  INTEGER PRIMARY KEY,
    account_id          INTEGER NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    vault_id            BLOB    NOT NULL UNIQUE,
    envelope            BLOB    NOT NULL,
    envelope_version    INTEGER NOT NULL,
    salt                BLOB    NOT NULL,
    kdf_params          TEXT    NOT NULL,
    device_fingerprint  TEXT,
    next_cursor         INTEGER NOT NULL DEFAULT 1,
    purged_cursor       INTEGER NOT NULL DEFAULT 0,
    enabled_at          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE records (
    vault_pk       INTEGER NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    record_id      BLOB    NOT NULL,
    ciphertext     BLOB    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    deleted        INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    change_cursor  INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (vault_pk, record_id)
);
CREATE UNIQUE INDEX records_changes ON records (vault_pk, change_cursor);
CREATE INDEX records_tombstones ON records (updated_at) WHERE deleted;

-- Server-wide secrets (the prelogin salt key), created once and shared by every replica.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
