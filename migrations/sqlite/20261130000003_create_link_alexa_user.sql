-- the alexa users who use a link, as sha-256 hashes of their user ids, so that disabling the skill finds
-- the link even when alexa no longer sends a usable token
create table link_alexa_user (
    alexa_user_hash text primary key,
    link_id text not null references link (link_id) on delete cascade,
    bound_at bigint not null
);

create index link_alexa_user_link_id_idx on link_alexa_user (link_id);
