-- Insert a batch of usage events in one statement (all or nothing).
-- $1 timestamptz[] timestamp, $2 text[] event_type, $3 text user_id (the caller, for every row),
-- $4 text[] page_name, $5 text[] element_id, $6 boolean[] success, $7 jsonb[] metadata;
-- the arrays have one element per event, NULL elements allowed except in $1 and $2.
-- Result: none; the affected row count is the number of events.
INSERT INTO usage_events (timestamp, event_type, user_id, page_name, element_id, success, metadata)
SELECT e.timestamp, e.event_type, $3, e.page_name, e.element_id, e.success, e.metadata
FROM UNNEST($1::timestamptz[], $2::text[], $4::text[], $5::text[], $6::boolean[], $7::jsonb[])
    AS e(timestamp, event_type, page_name, element_id, success, metadata)
