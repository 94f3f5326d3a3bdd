-- an app-wide event (spotify refusing a user at linking) belongs to no link
alter table audit_event alter column link_id drop not null;
