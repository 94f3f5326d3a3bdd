-- an app-wide incident (spotify refusing the app because its owner lacks premium), shared by every
-- replica: since_ms is 0 when there is none; the newest change_ms wins
create table app_incident (
    app_incident_id text primary key,
    since_ms bigint not null,
    changed_ms bigint not null
);
