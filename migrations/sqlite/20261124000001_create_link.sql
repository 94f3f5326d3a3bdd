-- one row per linked spotify account; spotify tokens are sealed (aes-256-gcm, key id inside the blob)
create table link (
    link_id text primary key,
    spotify_user_id text not null unique,
    display_name text,
    status text not null,
    scopes text not null,
    spotify_refresh_token blob,
    spotify_access_token blob,
    spotify_access_expires_at bigint,
    authorized_at bigint not null,
    token_version bigint not null default 0,
    refresh_lease_owner text,
    refresh_lease_until bigint,
    created_at bigint not null,
    updated_at bigint not null
);
