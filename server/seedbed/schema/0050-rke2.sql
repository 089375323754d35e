-- Which cluster engine ran each job (rke or rke2: the inventory's cluster.engine when it ran).
-- A table beside cluster_jobs rather than a new column: every file here must run again whole
-- on a store it already reached (ALTER TABLE ADD COLUMN cannot say IF NOT EXISTS).
-- Jobs from before engines could be chosen have no row: they were all rke.
CREATE TABLE IF NOT EXISTS cluster_job_engines (
    job_id  INTEGER PRIMARY KEY REFERENCES cluster_jobs (id) ON DELETE CASCADE,
    engine  TEXT NOT NULL CHECK (engine IN ('rke', 'rke2'))
);
-- What seedbed.cluster.jobs reads: a job with its engine (NULL before 0050).
CREATE VIEW IF NOT EXISTS cluster_jobs_read AS
    SELECT cluster_jobs.*, cluster_job_engines.engine AS engine
    FROM cluster_jobs LEFT JOIN cluster_job_engines ON cluster_job_engines.job_id = cluster_jobs.id;
