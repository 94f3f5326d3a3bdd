-- an app-wide event (spotify refusing a user at linking) belongs to no link; sqlite cannot drop a
-- not-null constraint, so the table is rebuilt with the same columns and index
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
