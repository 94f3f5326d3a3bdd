-- a grant revoked by a code replay stays revoked, so an exchange still in flight cannot store tokens
alter table authorization_code add column revoked_at bigint;
