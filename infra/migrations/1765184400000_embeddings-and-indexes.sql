-- Up Migration
-- Embedding models, imported from a Python package and exported to ONNX: numbered per name, one version per
-- identity (package, package version, weights digest); the manifest (graph, vocabulary, checks) is an artifact.
CREATE TABLE cairn.embedding_models (
  name             text NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]*$'),
  version          integer NOT NULL,
  identity         text NOT NULL CHECK (identity ~ '^sha256:[0-9a-f]{64}$'),
  manifest         text NOT NULL CHECK (manifest ~ '^sha256:[0-9a-f]{64}$'),
  package          text NOT NULL,
  package_version  text NOT NULL,
  weights_digest   text NOT NULL,
  dimensions       integer NOT NULL,
  run_id           text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version),
  UNIQUE (name, identity)
);
CREATE TRIGGER embedding_models_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.embedding_models
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();

-- Vector indexes: one version per index file (its bytes follow from the embedding model, the corpus snapshot and the
-- build parameters); the manifest records those, the quality gate's result and the drift baseline. Numbered per name.
CREATE TABLE cairn.vector_indexes (
  name               text NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]*$'),
  version            integer NOT NULL,
  manifest           text NOT NULL CHECK (manifest ~ '^sha256:[0-9a-f]{64}$'),
  digest             text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  embedding_model    text NOT NULL,
  embedding_version  integer NOT NULL,
  corpus             text NOT NULL,
  metrics            jsonb NOT NULL,
  passed             boolean NOT NULL,
  run_id             text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version),
  UNIQUE (name, digest),
  FOREIGN KEY (embedding_model, embedding_version) REFERENCES cairn.embedding_models (name, version)
);
CREATE TRIGGER vector_indexes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.vector_indexes
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();

-- The version an alias (production, staging) serves; every move is in the audit log.
CREATE TABLE cairn.vector_index_aliases (
  name              text NOT NULL,
  alias             text NOT NULL CHECK (alias ~ '^[a-z][a-z0-9-]*$'),
  version           integer NOT NULL,
  previous_version  integer,
  set_by            text NOT NULL,
  set_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES cairn.vector_indexes (name, version)
);

-- Down Migration
DROP TABLE cairn.vector_index_aliases;
DROP TABLE cairn.vector_indexes;
DROP TABLE cairn.embedding_models;
