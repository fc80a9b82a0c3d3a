ALTER TABLE accounts DROP COLUMN recovery_verifier_hash;
