-- Up Migration
-- Feature views materialised to the offline store: one row per snapshot (the manifest's digest), with the view
-- definition that computed it and the source content it was computed from.
CREATE TABLE cairn.feature_view_versions (
  view            text NOT NULL,
  snapshot        text NOT NULL CHECK (snapshot ~ '^sha256:[0-9a-f]{64}$'),
  view_digest     text NOT NULL,
  definition      jsonb NOT NULL,
  source_digest   text NOT NULL,
  row_count       bigint NOT NULL,
  entity_count    bigint NOT NULL,
  parts           integer NOT NULL,
  min_time        timestamptz,
  max_time        timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (view, snapshot)
);
CREATE INDEX feature_view_versions_latest ON cairn.feature_view_versions (view, created_at DESC);

-- Writes of a snapshot's latest values to an online store, as of a time. `execution` (workflow id, Temporal run id,
-- activity id) makes a retried activity record its write once.
CREATE TABLE cairn.feature_materializations (
  id           bigserial PRIMARY KEY,
  view         text NOT NULL,
  snapshot     text NOT NULL,
  view_digest  text NOT NULL,
  store        text NOT NULL,
  as_of        timestamptz NOT NULL,
  after        timestamptz,
  entities     bigint NOT NULL,
  written      bigint NOT NULL,
  execution    text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feature_materializations_latest ON cairn.feature_materializations (view_digest, store, as_of DESC);

-- Down Migration
DROP TABLE cairn.feature_materializations;
DROP TABLE cairn.feature_view_versions;
