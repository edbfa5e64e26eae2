-- Up Migration
-- Dataset snapshots a pipeline accepted (passed validation), with the profile the next snapshot is compared against.
CREATE TABLE cairn.dataset_versions (
  pipeline        text NOT NULL,
  digest          text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  schema_digest   text NOT NULL,
  row_count       bigint NOT NULL,
  manifest_digest text NOT NULL,
  profile         jsonb NOT NULL,
  accepted_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, digest)
);
CREATE INDEX dataset_versions_latest ON cairn.dataset_versions (pipeline, accepted_at DESC);

-- Down Migration
DROP TABLE cairn.dataset_versions;
