-- Up Migration
-- Experiment tracking: one row per run (a trainingPipeline workflow), its stages, params, metrics and artifacts.
CREATE TABLE cairn.runs (
  id               text PRIMARY KEY,                       -- the workflow id
  pipeline         text NOT NULL,
  pipeline_version text NOT NULL,
  trigger          text NOT NULL,
  requested_by     text,
  parent_run_id    text REFERENCES cairn.runs (id),
  status           text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
  error            text,
  config           jsonb NOT NULL,
  config_digest    text NOT NULL,
  code_commit      text NOT NULL,
  code_dirty       boolean NOT NULL,
  dataset_digest   text,
  package_digest   text,
  model_name       text,
  model_version    integer,
  cache_hits       text[] NOT NULL DEFAULT '{}',
  cpu_seconds      double precision NOT NULL DEFAULT 0,
  cost             double precision NOT NULL DEFAULT 0,
  started_at       timestamptz NOT NULL DEFAULT now(),
  ended_at         timestamptz
);
CREATE INDEX runs_pipeline_started ON cairn.runs (pipeline, started_at DESC);
CREATE INDEX runs_status ON cairn.runs (status) WHERE status = 'running';
CREATE INDEX runs_dataset ON cairn.runs (dataset_digest);

CREATE TABLE cairn.run_stages (
  run_id      text NOT NULL REFERENCES cairn.runs (id),
  stage       text NOT NULL,
  status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  attempt     integer NOT NULL,
  cache_hit   boolean NOT NULL DEFAULT false,
  wall_ms     double precision,
  cpu_ms      double precision,
  error       text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  ended_at    timestamptz,
  PRIMARY KEY (run_id, stage)
);

CREATE TABLE cairn.run_params (
  run_id text NOT NULL REFERENCES cairn.runs (id),
  key    text NOT NULL,
  value  text NOT NULL,
  PRIMARY KEY (run_id, key)
);

CREATE TABLE cairn.run_metrics (
  run_id text NOT NULL REFERENCES cairn.runs (id),
  name   text NOT NULL,
  step   integer NOT NULL DEFAULT 0,
  value  double precision NOT NULL,
  PRIMARY KEY (run_id, name, step)
);

CREATE TABLE cairn.run_artifacts (
  run_id text NOT NULL REFERENCES cairn.runs (id),
  stage  text NOT NULL,
  role   text NOT NULL,
  digest text NOT NULL,
  bytes  bigint NOT NULL,
  PRIMARY KEY (run_id, stage, role)
);

-- Dataset versions carry their statistics; the manifest (by digest) holds the rest.
ALTER TABLE cairn.dataset_versions ADD COLUMN statistics jsonb;

-- Step cache: the result of a stage by the digest of everything it reads.
CREATE TABLE cairn.step_cache (
  key        text PRIMARY KEY,
  stage      text NOT NULL,
  result     jsonb NOT NULL,
  artifacts  text[] NOT NULL,
  run_id     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Model registry. next_version is handed out under the row lock of models: gap-free and race-free.
CREATE TABLE cairn.models (
  name         text PRIMARY KEY,
  pipeline     text NOT NULL,
  next_version integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cairn.model_versions (
  model          text NOT NULL REFERENCES cairn.models (name),
  version        integer NOT NULL CHECK (version > 0),
  run_id         text NOT NULL REFERENCES cairn.runs (id),
  package_digest text NOT NULL,
  dataset_digest text NOT NULL,
  metrics        jsonb NOT NULL,
  gate           jsonb NOT NULL,
  lineage        jsonb NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, version),
  UNIQUE (model, run_id)
);

CREATE TABLE cairn.model_aliases (
  model      text NOT NULL REFERENCES cairn.models (name),
  alias      text NOT NULL CHECK (alias IN ('staging', 'production', 'champion')),
  version    integer NOT NULL,
  set_by     text NOT NULL,
  reason     text NOT NULL,
  set_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES cairn.model_versions (model, version)
);

CREATE TABLE cairn.model_alias_history (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model            text NOT NULL,
  alias            text NOT NULL,
  version          integer NOT NULL,
  previous_version integer,
  set_by           text NOT NULL,
  reason           text NOT NULL,
  set_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_alias_history_model ON cairn.model_alias_history (model, alias, set_at DESC);

-- Down Migration
DROP TABLE cairn.model_alias_history;
DROP TABLE cairn.model_aliases;
DROP TABLE cairn.model_versions;
DROP TABLE cairn.models;
DROP TABLE cairn.step_cache;
ALTER TABLE cairn.dataset_versions DROP COLUMN statistics;
DROP TABLE cairn.run_artifacts;
DROP TABLE cairn.run_metrics;
DROP TABLE cairn.run_params;
DROP TABLE cairn.run_stages;
DROP TABLE cairn.runs;
