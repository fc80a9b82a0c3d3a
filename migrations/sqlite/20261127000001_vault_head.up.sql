-- The vault head (FORMAT.md, "Vault head"): the sealed head the last push stored, opaque
-- to the server, and how many heads the vault has had. A push must name head_seq as its
-- base_seq (PROTOCOL.md). NULL and 0 for a vault that has had no push since the upgrade.
ALTER TABLE vaults ADD COLUMN head BLOB;
ALTER TABLE vaults ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0;
