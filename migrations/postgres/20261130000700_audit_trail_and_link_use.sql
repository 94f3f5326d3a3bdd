-- the audit trail also records events of no single link (keys rewrapped), is read in time order with
-- cursor paging, and links remember when their spotify tokens were last refreshed and last used
alter table audit_event alter column link_id drop not null;
create index audit_event_created_at_idx on audit_event (created_at, audit_event_id);
alter table link add column last_refreshed_at bigint;
alter table link add column last_used_at bigint;
