-- Settings for the aggregation transaction: the moved rows of a run (up to a few million) are
-- grouped and sorted in memory, and JIT compilation of the large statements costs more than
-- it saves. No parameters, no result.
SET LOCAL work_mem = '256MB';
SET LOCAL jit = off
