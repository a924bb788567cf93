-- Deploys on a cluster: each node clears what its interrupted deploys left (processes, work
-- folders) once, and the newest deploy of an environment is found without a scan.
ALTER TABLE deploys ADD COLUMN leftovers_cleared_at BIGINT;
CREATE INDEX deploys_leftovers ON deploys (runner_node) WHERE status = 'interrupted' AND leftovers_cleared_at IS NULL;
CREATE INDEX deploys_latest ON deploys (environment_id, id);
CREATE INDEX deploys_leases ON deploys (lease_expires_at) WHERE status = 'running';
-- Deploy history stays fast however long it grows: every list filter walks an index backwards.
CREATE INDEX deploys_project_history ON deploys (project_id, id);
CREATE INDEX deploys_status_history ON deploys (status, id);
CREATE INDEX deploys_user_history ON deploys (user_email, id);
CREATE INDEX deploys_environment_status_history ON deploys (environment_id, status, id);
