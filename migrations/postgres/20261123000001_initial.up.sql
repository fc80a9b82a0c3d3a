-- vaultsync schema v1 (PostgreSQL). Same model as migrations/sqlite.
CREATE TABLE accounts (
    id                  BIGSERIAL PRIMARY KEY,
    username            TEXT   NOT NULL UNIQUE,
    auth_verifier_hash  BYTEA  NOT NULL,
    created_at          BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id             BIGSERIAL PRIMARY KEY,
    key_hash       BYTEA  NOT NULL UNIQUE,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_indicator  TEXT   NOT NULL,
    label          TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE vaults (
    id                  BIGSERIAL PRIMARY KEY,
    account_id          BIGINT NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    vault_id            BYTEA  NOT NULL UNIQUE,
    envelope            BYTEA  NOT NULL,
    envelope_version    BIGINT NOT NULL,
    salt                BYTEA  NOT NULL,
    kdf_params          TEXT   NOT NULL,
    device_fingerprint  TEXT,
    next_cursor         BIGINT NOT NULL DEFAULT 1,
    purged_cursor       BIGINT NOT NULL DEFAULT 0,
    enabled_at          BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE records (
    vault_pk       BIGINT   NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    record_id      BYTEA    NOT NULL,
    ciphertext     BYTEA    NOT NULL,
    version        BIGINT   NOT NULL CHECK (version >= 1),
    deleted        BOOLEAN  NOT NULL,
    change_cursor  BIGINT   NOT NULL,
    created_at     BIGINT   NOT NULL,
    updated_at     BIGINT   NOT NULL,
    PRIMARY KEY (vault_pk, record_id)
);
CREATE UNIQUE INDEX records_changes ON records (vault_pk, change_cursor);
CREATE INDEX records_tombstones ON records (updated_at) WHERE deleted;

-- Server-wide secrets (the prelogin salt key), created once and shared by every replica.
CREATE TABLE server_secrets (
    name   TEXT  PRIMARY KEY,
    value  BYTEA NOT NULL
);
