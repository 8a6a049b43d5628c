-- Settings for the aggregation transaction: the moved rows of a run (up to a few million) are
-- grouped and sorted in memory. No parameters, no result.
SET LOCAL work_mem = '256MB'
