-- replicas poll for links changed since their last look, to drop cached state within a second
create index link_updated_at_idx on link (updated_at);
