-- the purge deletes broker tokens a day past their expiry or their revocation
create index broker_token_expires_at_idx on broker_token (expires_at);
create index broker_token_revoked_at_idx on broker_token (revoked_at);
