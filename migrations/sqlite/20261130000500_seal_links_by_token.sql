-- per-link data keys: spotify tokens of a link sealed under a key of its own, stored only wrapped by keys
-- derived from the broker secrets alexa holds (each live token, each unspent code); older links stay
-- sealed by the key ring until their next refresh grant moves them
alter table link add column sealed_by text not null default 'key_ring';
alter table broker_token add column wrapped_data_key blob;
alter table authorization_code add column wrapped_data_key blob;
