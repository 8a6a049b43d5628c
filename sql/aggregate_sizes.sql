-- Row counts of the metrics tables, for the job's size check and summary.
-- Parameters: none. Result: one row (performance_metrics bigint, usage_events bigint,
--                                   aggregated_metrics bigint, aggregated_users bigint).
SELECT (SELECT count(*) FROM performance_metrics) AS performance_metrics,
       (SELECT count(*) FROM usage_events)        AS usage_events,
       (SELECT count(*) FROM aggregated_metrics)  AS aggregated_metrics,
       (SELECT count(*) FROM aggregated_users)    AS aggregated_users;
