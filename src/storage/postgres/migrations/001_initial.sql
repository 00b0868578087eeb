-- evstore schema 1: events, streams, the head row, projection checkpoints, and the append
-- function. Runs inside the migration transaction with `search_path` set to the store's schema,
-- so every name below lives in that schema.

-- The schema migrations applied to this schema, one row each; also what marks a schema as an
-- evstore store's.
CREATE TABLE evstore_migrations (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The last position handed out. One row, updated by every append as late as possible in its
-- transaction and locked until it commits: positions are dense and in commit order.
CREATE TABLE head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint  NOT NULL
);
INSERT INTO head (position) VALUES (0);

-- One row per stream: its version, and the row every append to the stream locks.
-- Stream ids compare byte for byte (COLLATE "C"), whatever the database's collation: listings
-- are in code point order and a prefix is one index range.
CREATE TABLE streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE TABLE events (
    position       bigint PRIMARY KEY,
    id             uuid   NOT NULL,
    stream_id      text   COLLATE "C" NOT NULL,
    version        bigint NOT NULL,
    category       text   NOT NULL,
    event_type     text   NOT NULL,
    data           json   NOT NULL,
    metadata       json   NOT NULL,
    recorded_at    bigint NOT NULL,
    correlation_id text,
    causation_id   text,
    CONSTRAINT events_id_unique UNIQUE (id),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version)
);
CREATE INDEX events_by_category ON events (category, position);
CREATE INDEX events_by_type ON events (event_type, position);

CREATE TABLE checkpoints (
    name     text   PRIMARY KEY,
    position bigint NOT NULL,
    skipped  json   NOT NULL
);

-- Locks the rows of several streams (created at version 0 when new) in stream id order, so
-- that transactions appending to several streams always lock in one order and never deadlock.
CREATE FUNCTION lock_streams(p_streams text[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO streams (stream_id, version)
        SELECT DISTINCT s, 0::bigint FROM unnest(p_streams) AS s ORDER BY s
        ON CONFLICT (stream_id) DO NOTHING;
    PERFORM 1 FROM streams WHERE stream_id = ANY (p_streams) ORDER BY stream_id FOR UPDATE;
END;
$$;

-- One append: locks the stream's row, reads the stream's version, and writes the events only
-- when that makes a plain append (the expected version met, no id of the batch stored). It
-- returns what it read, so the caller decides with the shared `decide_append` and rolls the
-- write back should the two ever disagree.
--
-- Where the batch's ids are stored is looked up first when the expected version is not met (the
-- append may be a retry of one that moved the stream on) or when p_check_ids is set; otherwise
-- `UNIQUE (id)` checks them while inserting, and a refused id fails the call with SQLSTATE
-- 23505 on `events_id_unique`: the caller then runs it again with p_check_ids.
--
-- p_expected_kind: 0 any, 1 no stream, 2 stream exists, 3 exact p_expected.
-- Rows returned: one per stored id of the batch (written = false), or one row with
-- written = false (the expected version is not met), or one row with written = true and the
-- position of the last event written.
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
    p_channel        text
) RETURNS TABLE (
    current_version bigint,
    written         boolean,
    last_position   bigint,
    found_index     integer,
    found_stream    text,
    found_version   bigint,
    found_position  bigint
)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_current bigint;
    v_count   integer := cardinality(p_ids);
    v_last    bigint;
    v_met     boolean;
BEGIN
    INSERT INTO streams (stream_id, version) VALUES (p_stream, 0)
        ON CONFLICT (stream_id) DO NOTHING;
    SELECT s.version INTO v_current FROM streams AS s WHERE s.stream_id = p_stream FOR UPDATE;

    v_met := CASE p_expected_kind
                 WHEN 0 THEN true
                 WHEN 1 THEN v_current = 0
                 WHEN 2 THEN v_current > 0
                 ELSE v_current = p_expected
             END;

    IF p_check_ids OR NOT v_met THEN
        RETURN QUERY
            SELECT v_current, false, NULL::bigint, t.ord::integer, e.stream_id, e.version,
                   e.position
            FROM unnest(p_ids) WITH ORDINALITY AS t (id, ord)
            JOIN events AS e ON e.id = t.id
            ORDER BY t.ord;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF NOT v_met THEN
        RETURN QUERY SELECT v_current, false, NULL::bigint, NULL::integer, NULL::text,
                            NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- As late as possible: from here to commit, other appends wait for this row.
    UPDATE head SET position = head.position + v_count RETURNING head.position INTO v_last;

    INSERT INTO events (position, id, stream_id, version, category, event_type, data, metadata,
                        recorded_at, correlation_id, causation_id)
        SELECT v_last - v_count + t.ord, t.id, p_stream, v_current + t.ord, p_category,
               t.event_type, t.data::json, t.metadata::json, t.recorded_at, t.correlation_id,
               t.causation_id
        FROM unnest(p_ids, p_types, p_data, p_metadata, p_recorded_at, p_correlation,
                    p_causation)
             WITH ORDINALITY AS t (id, event_type, data, metadata, recorded_at, correlation_id,
                                   causation_id, ord);
    UPDATE streams SET version = v_current + v_count WHERE stream_id = p_stream;

    -- Delivered to listeners when the transaction commits; identical notifications of one
    -- transaction are folded into one.
    PERFORM pg_notify(p_channel, '');

    RETURN QUERY SELECT v_current, true, v_last, NULL::integer, NULL::text, NULL::bigint,
                        NULL::bigint;
END;
$$;
