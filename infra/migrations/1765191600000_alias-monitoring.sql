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

-- Every render the online server answers for a registered prompt: rendered, or refused (variables that do not fit).
CREATE TABLE cairn.prompt_renders (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name     text NOT NULL,
  version  integer NOT NULL,
  outcome  text NOT NULL CHECK (outcome IN ('rendered', 'refused')),
  at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prompt_renders_window ON cairn.prompt_renders (name, at);

-- Checks of an index or prompt alias (monitorIndex, monitorPrompt): one per monitor execution and sequence number.
CREATE TABLE cairn.alias_reports (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  monitor_id    text NOT NULL,
  seq           integer NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('index', 'prompt')),
  name          text NOT NULL,
  alias         text NOT NULL,
  version       integer,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  status        text NOT NULL CHECK (status IN ('ok', 'alert', 'no-traffic')),
  breaches      jsonb NOT NULL,
  report        jsonb NOT NULL,
  -- The rebuild an alert asked for (indexes).
  rebuild_id    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (monitor_id, seq)
);
CREATE INDEX alias_reports_name ON cairn.alias_reports (kind, name, window_end DESC);

-- Down Migration
DROP TABLE cairn.alias_reports;
DROP TABLE cairn.prompt_renders;
DROP TABLE cairn.index_searches;
