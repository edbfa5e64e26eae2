-- Up Migration
-- Answers of an LLM provider, by what determines them (a chat answer: prompt digest, variables and model
-- parameters; an embedding: model and text). A rerun reads them here and asks the provider nothing.
CREATE TABLE cairn.llm_responses (
  key         text PRIMARY KEY CHECK (key ~ '^sha256:[0-9a-f]{64}$'),
  kind        text NOT NULL CHECK (kind IN ('chat', 'embedding')),
  model       text NOT NULL,
  response    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Evaluations of prompt versions: one per workflow execution and role (the candidate, the baseline it is compared
-- with), so a retried activity records its evaluation once.
CREATE TABLE cairn.prompt_evaluations (
  id            bigserial PRIMARY KEY,
  execution     text NOT NULL UNIQUE,
  prompt        text NOT NULL,
  version       integer NOT NULL,
  digest        text NOT NULL,
  dataset       text NOT NULL,
  scorers       jsonb NOT NULL,
  metrics       jsonb NOT NULL,
  rows          integer NOT NULL,
  calls         integer NOT NULL,
  cached        integer NOT NULL,
  requested_by  text NOT NULL,
  -- A candidate's gate: compared with the version an alias served (the baseline, evaluated on the same rows).
  gate          jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (prompt, version) REFERENCES cairn.prompt_versions (prompt, version)
);
CREATE INDEX prompt_evaluations_by_version ON cairn.prompt_evaluations (prompt, version, created_at DESC);

CREATE TABLE cairn.prompt_evaluation_rows (
  evaluation_id  bigint NOT NULL REFERENCES cairn.prompt_evaluations (id),
  row            integer NOT NULL,
  answer         text NOT NULL,
  scores         jsonb NOT NULL,
  PRIMARY KEY (evaluation_id, row)
);

-- Down Migration
DROP TABLE cairn.prompt_evaluation_rows;
DROP TABLE cairn.prompt_evaluations;
DROP TABLE cairn.llm_responses;
