-- Up Migration
-- Index aliases carry a canary as prompt aliases do: a second version a share of searches gets, by sticky key.
ALTER TABLE cairn.vector_index_aliases
  ADD COLUMN canary_version integer,
  ADD COLUMN canary_weight double precision NOT NULL DEFAULT 0 CHECK (canary_weight >= 0 AND canary_weight < 1),
  ADD COLUMN release_id text,
  ADD FOREIGN KEY (name, canary_version) REFERENCES cairn.vector_indexes (name, version);

-- Releases of index versions (releaseIndex workflows), as cairn.prompt_releases records prompt releases.
CREATE TABLE cairn.index_releases (
  id            text PRIMARY KEY,
  name          text NOT NULL,
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
  FOREIGN KEY (name, version) REFERENCES cairn.vector_indexes (name, version)
);

-- Down Migration
DROP TABLE cairn.index_releases;
ALTER TABLE cairn.vector_index_aliases DROP COLUMN release_id, DROP COLUMN canary_weight, DROP COLUMN canary_version;
