-- Insert a batch of request records (the metrics writer).
-- $1 timestamptz[] timestamp, $2 text[] endpoint, $3 text[] method, $4 integer[] status_code,
-- $5 float8[] response_time_ms, $6 text[] user_id, $7 text[] error_type,
-- $8 text[] correlation_id; one element per request, NULLs allowed in $6 and $7.
-- Result: none; the affected row count is the batch size.
INSERT INTO performance_metrics
    (timestamp, endpoint, method, status_code, response_time_ms, user_id, error_type, correlation_id)
SELECT *
FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::integer[], $5::float8[],
            $6::text[], $7::text[], $8::text[])
