-- Up Migration
-- An alias can carry a canary: a second version that a share of render requests gets, chosen by their sticky key.
ALTER TABLE cairn.prompt_aliases
  ADD COLUMN canary_version integer,
  ADD COLUMN canary_weight double precision NOT NULL DEFAULT 0 CHECK (canary_weight >= 0 AND canary_weight < 1),
  ADD COLUMN release_id text,
  ADD FOREIGN KEY (prompt, canary_version) REFERENCES cairn.prompt_versions (prompt, version);

-- Releases of prompt versions (releasePrompt workflows): checklist, decisions and outcome, one row per execution.
CREATE TABLE cairn.prompt_releases (
  id            text PRIMARY KEY,
  prompt        text NOT NULL,
  version       integer NOT NULL,
  alias         text NOT NULL,
  strategy      jsonb NOT NULL,
  status        text NOT NULL,
  requested_by  text,
  checklist     jsonb,
  decisions     jsonb NOT NULL DEFAULT '[]',
  outcome       text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (prompt, version) REFERENCES cairn.prompt_versions (prompt, version)
);

-- Down Migration
DROP TABLE cairn.prompt_releases;
ALTER TABLE cairn.prompt_aliases DROP COLUMN release_id, DROP COLUMN canary_weight, DROP COLUMN canary_version;
