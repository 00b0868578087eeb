-- evstore schema 3: stream metadata maxAge (seconds). Runs inside the migration transaction
-- with `search_path` set to the store's schema.

-- The streams with a maxAge, found through a partial index: reads ask for them at every page.
ALTER TABLE streams ADD COLUMN max_age bigint;
CREATE INDEX streams_with_max_age ON streams (stream_id) WHERE max_age IS NOT NULL;

-- The append function of schema 2, now also removing the events a stream's maxAge no longer
-- keeps, in the same transaction, as of `p_now` (the store's clock, UTC milliseconds).
DROP FUNCTION append_events(text, text, smallint, bigint, uuid[], text[], text[], text[],
                            bigint[], text[], text[], boolean, text);

CREATE FUNCTION append_events(
    p_stream         text,
    p_category       text,
    p_expected_kind  smallint,
    p_expected       bigint,
    p_ids            uuid[],
    p_types          text[],
    p_data           text[],
    p_metadata       text[],
    p_recorded_at    bigint[],
    p_correlation    text[],
    p_causation      text[],
    p_check_ids      boolean,
    p_channel        text,
    p_now            bigint
) RETURNS TABLE (
    current_version bigint,
    written         boolean,
    last_position   bigint,
    found_index     integer,
    found_stream    text,
    found_version   bigint,
    found_position  bigint,
    base_version    bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_base       bigint;
    v_current    bigint;
    v_deleted    boolean;
    v_tombstoned boolean;
    v_max_count  bigint;
    v_max_age    bigint;
    v_count      integer := cardinality(p_ids);
    v_last       bigint;
    v_met        boolean;
BEGIN
    INSERT INTO streams (stream_id, version) VALUES (p_stream, 0)
        ON CONFLICT (stream_id) DO NOTHING;
    SELECT s.version, s.deleted, s.tombstoned, s.max_count, s.max_age
        INTO v_base, v_deleted, v_tombstoned, v_max_count, v_max_age
        FROM streams AS s WHERE s.stream_id = p_stream FOR UPDATE;
    IF v_tombstoned THEN
        RAISE EXCEPTION 'stream % is tombstoned', p_stream USING ERRCODE = 'EV001';
    END IF;
    v_current := CASE WHEN v_deleted THEN 0 ELSE v_base END;

    v_met := CASE p_expected_kind
                 WHEN 0 THEN true
                 WHEN 1 THEN v_current = 0
                 WHEN 2 THEN v_current > 0
                 ELSE v_current = p_expected
             END;

    IF p_check_ids OR NOT v_met THEN
        RETURN QUERY
            SELECT v_current, false, NULL::bigint, t.ord::integer, e.stream_id, e.version,
                   e.position, v_base
            FROM unnest(p_ids) WITH ORDINALITY AS t (id, ord)
            JOIN events AS e ON e.id = t.id
            ORDER BY t.ord;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF NOT v_met THEN
        RETURN QUERY SELECT v_current, false, NULL::bigint, NULL::integer, NULL::text,
                            NULL::bigint, NULL::bigint, v_base;
        RETURN;
    END IF;

    -- As late as possible: from here to commit, other appends wait for this row.
    UPDATE head SET position = head.position + v_count RETURNING head.position INTO v_last;

    INSERT INTO events (position, id, stream_id, version, category, event_type, data, metadata,
                        recorded_at, correlation_id, causation_id)
        SELECT v_last - v_count + t.ord, t.id, p_stream, v_base + t.ord, p_category,
               t.event_type, t.data::json, t.metadata::json, t.recorded_at, t.correlation_id,
               t.causation_id
        FROM unnest(p_ids, p_types, p_data, p_metadata, p_recorded_at, p_correlation,
                    p_causation)
             WITH ORDINALITY AS t (id, event_type, data, metadata, recorded_at, correlation_id,
                                   causation_id, ord);
    UPDATE streams SET version = v_base + v_count, deleted = false
        WHERE stream_id = p_stream;
    IF v_max_count IS NOT NULL AND v_base + v_count > v_max_count THEN
        DELETE FROM events
            WHERE stream_id = p_stream AND version <= v_base + v_count - v_max_count;
        UPDATE streams
            SET truncated_before = greatest(truncated_before, v_base + v_count - v_max_count + 1)
            WHERE stream_id = p_stream;
    END IF;
    -- Events recorded more than max_age seconds before p_now, except the stream's last event.
    IF v_max_age IS NOT NULL THEN
        DELETE FROM events
            WHERE stream_id = p_stream AND version < v_base + v_count
              AND recorded_at < p_now - v_max_age * 1000;
    END IF;

    -- Delivered to listeners when the transaction commits; identical notifications of one
    -- transaction are folded into one.
    PERFORM pg_notify(p_channel, '');

    RETURN QUERY SELECT v_current, true, v_last, NULL::integer, NULL::text, NULL::bigint,
                        NULL::bigint, v_base;
END;
$$;
