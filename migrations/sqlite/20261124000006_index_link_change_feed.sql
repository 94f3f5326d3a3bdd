-- the change feed pages through links by (updated_at, link_id)
drop index link_updated_at_idx;
create index link_updated_at_link_id_idx on link (updated_at, link_id);
