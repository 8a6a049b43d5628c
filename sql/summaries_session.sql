-- Settings for one summary-builder transaction (see metrics_session.sql for why).
-- No parameters, no result.
SET LOCAL work_mem = '64MB';
SET LOCAL jit = off;
SET LOCAL TimeZone = 'UTC'
