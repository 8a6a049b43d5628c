-- Settings for the aggregation transaction: the moved rows of a run (up to a few million) are
-- grouped and sorted in memory, and JIT compilation of the large statements costs more than
-- it saves. Nested loops are off because the planner cannot estimate the CTEs' row counts:
-- it joined the per-bucket aggregates with nested loops, quadratic in the number of buckets
-- (a 90-day backlog of 130,000 rows took over 5 minutes; hash joins take seconds).
-- No parameters, no result.
SET LOCAL work_mem = '256MB';
SET LOCAL jit = off;
SET LOCAL enable_nestloop = off
