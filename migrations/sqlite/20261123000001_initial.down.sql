DROP TABLE server_secrets;
DROP TABLE records;
DROP TABLE vaults;
DROP TABLE api_keys;
DROP TABLE accounts;
