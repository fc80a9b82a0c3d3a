-- Devices and linking (PROTOCOL.md, "Devices and linking"). A device holds its tokens; an
-- account's devices are listed and revoked as a whole. Each token issued before this
-- migration becomes a device of its own (with the token's id, label and creation time).
CREATE TABLE devices (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label         TEXT   NOT NULL,
    -- The device's X25519 public key (32 bytes), when it has one (a linked device).
    public_key    BYTEA,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX devices_account ON devices (account_id);
ALTER TABLE api_keys ADD COLUMN device_id BIGINT REFERENCES devices (id) ON DELETE CASCADE;
INSERT INTO devices (id, account_id, label, created_at)
    SELECT id, account_id, label, created_at FROM api_keys;
UPDATE api_keys SET device_id = id;
SELECT setval(pg_get_serial_sequence('devices', 'id'), COALESCE((SELECT MAX(id) FROM devices), 0) + 1, false);
CREATE INDEX api_keys_device ON api_keys (device_id);

-- A new device's request to join an account, approved by one of its devices. Single-use,
-- 15 minutes. The server keeps the new device's public key and, once approved, the HPKE
-- payload sealed to it (ciphertext only); the new device fetches it with a secret only it
-- knows (kept hashed).
CREATE TABLE link_requests (
    request_id    BYTEA  PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    public_key    BYTEA  NOT NULL,
    label         TEXT   NOT NULL,
    secret_hash   BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    -- pending, approved, denied, spent
    state         TEXT   NOT NULL,
    enc           BYTEA,
    payload       BYTEA,
    approved_by   BIGINT REFERENCES devices (id) ON DELETE SET NULL
);
CREATE INDEX link_requests_account ON link_requests (account_id, state);
CREATE INDEX link_requests_expiry ON link_requests (expires_at);

-- The audit trail of link exchanges: who asked, who approved or denied, when it was
-- spent or expired. Never key material: a SHA-256 of the public key identifies it.
CREATE TABLE key_exchanges (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    request_id    BYTEA  NOT NULL,
    key_digest    BYTEA  NOT NULL,
    event         TEXT   NOT NULL,
    device_id     BIGINT,
    at            BIGINT NOT NULL
);
CREATE INDEX key_exchanges_account ON key_exchanges (account_id, at);
