-- CloudWatch and load balancer metrics import per AWS account: whether an account imports, at
-- which period, its last import's report, and a cursor per region (the end of the last window
-- imported, unix microseconds) so that a restart leaves no gap and reads nothing twice.

ALTER TABLE aws_accounts ADD COLUMN metrics_import BIGINT NOT NULL DEFAULT 0;
ALTER TABLE aws_accounts ADD COLUMN metrics_period_secs BIGINT NOT NULL DEFAULT 300;
-- JSON: the last import's report
ALTER TABLE aws_accounts ADD COLUMN last_metrics_import TEXT;

CREATE TABLE aws_metrics_cursors (
    account_id      TEXT NOT NULL,
    region          TEXT NOT NULL,
    imported_until  BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, region)
);
