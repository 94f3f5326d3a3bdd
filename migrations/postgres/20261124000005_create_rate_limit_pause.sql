-- the app-wide pause after spotify answers 429, shared by every replica
create table rate_limit_pause (
    rate_limit_pause_id text primary key,
    until_ms bigint not null,
    updated_at bigint not null
);
