-- Up Migration
-- Every search the online server answers: its outcome, its latency and the query's embedding (float32, for drift).
CREATE TABLE cairn.index_searches (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  version    integer NOT NULL,
  outcome    text NOT NULL CHECK (outcome IN ('found', 'empty')),
  seconds    double precision NOT NULL,
  embedding  bytea,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_searches_window ON cairn.index_searches (name, at);

-- Checks of an index alias (monitorIndex workflows): one per monitor execution and sequence number.
CREATE TABLE cairn.index_reports (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  monitor_id    text NOT NULL,
  seq           integer NOT NULL,
  name          text NOT NULL,
  alias         text NOT NULL,
  version       integer,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  status        text NOT NULL CHECK (status IN ('ok', 'alert', 'no-traffic')),
  breaches      jsonb NOT NULL,
  report        jsonb NOT NULL,
  rebuild_id    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (monitor_id, seq)
);
CREATE INDEX index_reports_name ON cairn.index_reports (name, window_end DESC);

-- Down Migration
DROP TABLE cairn.index_reports;
DROP TABLE cairn.index_searches;
