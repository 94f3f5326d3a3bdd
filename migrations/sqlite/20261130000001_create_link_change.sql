-- the change feed: every change to a link gets a database-assigned, increasing id; replicas follow it
-- to drop what they hold in memory about the link
create table link_change (
    link_change_id integer primary key autoincrement,
    link_id text not null,
    kind text not null,
    -- the process that made the change, which has already applied it to its own memory
    origin text not null,
    created_at bigint not null
);

create index link_change_created_at_idx on link_change (created_at);
