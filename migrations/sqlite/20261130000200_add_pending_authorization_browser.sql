-- the sha-256 of the cookie set by /oauth/authorize: only the browser that started linking may finish it.
-- rows from before this column have none, and their callback is refused.
alter table pending_authorization add column browser_hash text;
