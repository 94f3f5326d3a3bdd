-- why a link changed (spotify's refusal, an incident), next to who changed it
alter table audit_event add column reason text;
