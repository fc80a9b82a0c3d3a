-- Live-channel tickets (PROTOCOL.md, "Live updates"): single-use, valid 30 s, kept as the
-- SHA-256 of the ticket (never the ticket). In the database, not in memory, so a ticket
-- asked of one replica opens a socket on another.
CREATE TABLE live_tickets (
    ticket_hash  BYTEA  PRIMARY KEY,
    token_id     BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX live_tickets_expiry ON live_tickets (expires_at);
