-- Recovery login (POST /v1/recover): SHA-256 of the recovery auth key that the client
-- derives from the recovery code (FORMAT.md). NULL for accounts registered before it.
ALTER TABLE accounts ADD COLUMN recovery_verifier_hash BLOB;
