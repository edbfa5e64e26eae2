-- Up Migration
-- What each online server and stream consumer serves, written on every reload: a release moves traffic only once
-- every live replica (heartbeat younger than serving.replicaTimeout) has loaded the version it is about to serve.
CREATE TABLE cairn.replicas (
  id           text PRIMARY KEY,                    -- <kind>-<host>-<pid>-<random>: one per process start
  kind         text NOT NULL CHECK (kind IN ('online', 'stream')),
  environment  text NOT NULL,
  host         text NOT NULL,
  pid          integer NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  -- [{model, revision, stable, canary, weight}]: the routes requests are served by now
  routes       jsonb NOT NULL DEFAULT '[]',
  -- ["model@version", ...]: versions loaded and verified, the routed ones and any staged for a release
  loaded       jsonb NOT NULL DEFAULT '[]',
  -- [{model, version, error}]: versions this replica failed to load
  errors       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX replicas_environment ON cairn.replicas (environment, heartbeat_at);

-- Versions a release asks every replica to load before any traffic moves to them (removed when the release ends).
CREATE TABLE cairn.staged_versions (
  release_id  text NOT NULL,
  model       text NOT NULL REFERENCES cairn.models (name),
  environment text NOT NULL,
  version     integer NOT NULL,
  staged_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (release_id, model, environment, version)
);

-- Down Migration
DROP TABLE cairn.staged_versions;
DROP TABLE cairn.replicas;
