-- Devices and linking (PROTOCOL.md, "Devices and linking"). A device holds its tokens; an
-- account's devices are listed and revoked as a whole. Each token issued before this
-- migration becomes a device of its own (with the token's id, label and creation time).
CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label         TEXT   NOT NULL,
    -- The device's X25519 public key (32 bytes), when it has one (a linked device).
    public_key    BLOB,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX devices_account ON devices (account_id);
-- No REFERENCES here: SQLite could not drop the column again (down migration); a
-- device and its tokens are deleted together with their account.
ALTER TABLE api_keys ADD COLUMN device_id INTEGER;
INSERT INTO devices (id, account_id, label, created_at)
    SELECT id, account_id, label, created_at FROM api_keys;
UPDATE api_keys SET device_id = id;
CREATE INDEX api_keys_device ON api_keys (device_id);

-- A new device's request to join an account, approved by one of its devices. Single-use,
-- 15 minutes. The server keeps the new device's public key and, once approved, the HPKE
-- payload sealed to it (ciphertext only); the new device fetches it with a secret only it
-- knows (kept hashed).
CREATE TABLE link_requests (
    request_id    BLOB  PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    public_key    BLOB  NOT NULL,
    label         TEXT   NOT NULL,
    secret_hash   BLOB  NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- pending, approved, denied, spent
    state         TEXT   NOT NULL,
    enc           BLOB,
    payload       BLOB,
    approved_by   INTEGER REFERENCES devices (id) ON DELETE SET NULL
);
CREATE INDEX link_requests_account ON link_requests (account_id, state);
CREATE INDEX link_requests_expiry ON link_requests (expires_at);

-- The audit trail of link exchanges: who asked, who approved or denied, when it was
-- spent or expired. Never key material: a SHA-256 of the public key identifies it.
CREATE TABLE key_exchanges (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    request_id    BLOB  NOT NULL,
    key_digest    BLOB  NOT NULL,
    event         TEXT   NOT NULL,
    device_id     INTEGER,
    at            INTEGER NOT NULL
);
CREATE INDEX key_exchanges_account ON key_exchanges (account_id, at);
