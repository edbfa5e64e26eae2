-- Up Migration
CREATE SCHEMA IF NOT EXISTS cairn;

-- Every object put in the artifact store by a run; the digest is the identity.
CREATE TABLE cairn.artifacts (
  digest      text PRIMARY KEY CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  bytes       bigint NOT NULL CHECK (bytes >= 0),
  media_type  text NOT NULL,
  uri         text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Rows written by the `hello` wiring workflow: one per workflow execution (idempotent on retry).
CREATE TABLE cairn.greetings (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_id     text NOT NULL,
  run_id          text NOT NULL,
  name            text NOT NULL,
  artifact_digest text NOT NULL REFERENCES cairn.artifacts (digest),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workflow_id, run_id)
);

-- Down Migration
DROP TABLE cairn.greetings;
DROP TABLE cairn.artifacts;
