-- Up Migration
-- Prompts: versions are content-addressed (the digest of the canonical template, variables schema and model
-- parameters) and numbered per prompt without gaps, handed out under the prompt row's lock as model versions are.
CREATE TABLE cairn.prompts (
  name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]*$'),
  next_version  integer NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cairn.prompt_versions (
  prompt      text NOT NULL REFERENCES cairn.prompts (name),
  version     integer NOT NULL,
  digest      text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  content     jsonb NOT NULL,
  message     text NOT NULL,
  author      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prompt, version),
  UNIQUE (prompt, digest)
);
CREATE TRIGGER prompt_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.prompt_versions
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();

-- Aliases (production, staging, ...) point at a version; every move is kept in the audit log.
CREATE TABLE cairn.prompt_aliases (
  prompt   text NOT NULL,
  alias    text NOT NULL CHECK (alias ~ '^[a-z][a-z0-9-]*$'),
  version  integer NOT NULL,
  set_by   text NOT NULL,
  set_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prompt, alias),
  FOREIGN KEY (prompt, version) REFERENCES cairn.prompt_versions (prompt, version)
);

-- Down Migration
DROP TABLE cairn.prompt_aliases;
DROP TABLE cairn.prompt_versions;
DROP TABLE cairn.prompts;
