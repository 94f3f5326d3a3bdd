-- alexa's side of the linking: pending authorizations, one-time codes and broker tokens (hashes only)
create table pending_authorization (
    state_hash text primary key,
    client_id text not null,
    redirect_uri text not null,
    alexa_state text not null,
    scope text,
    code_challenge text,
    code_challenge_method text,
    spotify_code_verifier blob not null,
    expires_at bigint not null,
    created_at bigint not null
);

create table authorization_code (
    code_hash text primary key,
    link_id text not null references link (link_id) on delete cascade,
    grant_id text not null,
    client_id text not null,
    redirect_uri text not null,
    code_challenge text,
    code_challenge_method text,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null
);

create table broker_token (
    token_hash text primary key,
    link_id text not null references link (link_id) on delete cascade,
    grant_id text not null,
    kind text not null,
    expires_at bigint,
    revoked_at bigint,
    created_at bigint not null
);

create index broker_token_link_id_idx on broker_token (link_id);
create index broker_token_grant_id_idx on broker_token (grant_id);
create index pending_authorization_expires_at_idx on pending_authorization (expires_at);
create index authorization_code_expires_at_idx on authorization_code (expires_at);
