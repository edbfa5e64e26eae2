-- Up Migration
-- The version an alias served before its last move: what `cairn prompts rollback` returns to.
ALTER TABLE cairn.prompt_aliases ADD COLUMN previous_version integer;

-- Down Migration
ALTER TABLE cairn.prompt_aliases DROP COLUMN previous_version;
