-- Which cluster engine a job ran (rke or rke2, seedbed.cluster.engine); NULL for jobs from
-- before engines could be chosen, which were all rke.
ALTER TABLE cluster_jobs ADD COLUMN engine TEXT;
