-- the audit trail also records events of no single link (keys rewrapped), is read in time order with
-- cursor paging, and links remember when their spotify tokens were last refreshed and last used.
-- sqlite cannot drop a not-null constraint: the table is rebuilt
create table audit_event_new (
    audit_event_id text primary key,
    link_id text,
    action text not null,
    actor text not null,
    created_at bigint not null,
    reason text
);
insert into audit_event_new (audit_event_id, link_id, action, actor, created_at, reason)
    select audit_event_id, link_id, action, actor, created_at, reason from audit_event;
drop table audit_event;
alter table audit_event_new rename to audit_event;
create index audit_event_link_id_idx on audit_event (link_id);
create index audit_event_created_at_idx on audit_event (created_at, audit_event_id);
alter table link add column last_refreshed_at bigint;
alter table link add column last_used_at bigint;
