-- who did what to a link, kept after the link's tokens are destroyed
create table audit_event (
    audit_event_id text primary key,
    link_id text not null,
    action text not null,
    actor text not null,
    created_at bigint not null
);

create index audit_event_link_id_idx on audit_event (link_id);
