DROP TABLE key_exchanges;
DROP TABLE link_requests;
DROP INDEX api_keys_device;
ALTER TABLE api_keys DROP COLUMN device_id;
DROP TABLE devices;
