-- only revoked tokens are ever looked up by revoked_at (the purge), and most tokens are never revoked:
-- a partial index spares every token insert, and every rotation's update, an entry in it
drop index broker_token_revoked_at_idx;
create index broker_token_revoked_at_idx on broker_token (revoked_at) where revoked_at is not null;
