-- How long a project keeps its metrics, per resolution, in days: NULL takes the server's setting
-- (metrics_retention_*_days), 0 keeps that resolution forever. The metrics themselves live in
-- the metrics store (the embedded one in the data dir, or InfluxDB), never here.
ALTER TABLE projects ADD COLUMN metrics_retention_raw_days BIGINT;
ALTER TABLE projects ADD COLUMN metrics_retention_5m_days BIGINT;
ALTER TABLE projects ADD COLUMN metrics_retention_1h_days BIGINT;
