DROP TABLE records;
DROP TABLE vaults;
DROP TABLE api_keys;
DROP TABLE accounts;
