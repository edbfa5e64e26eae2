-- Up Migration
-- Records keyed by workflow id alone mixed up two executions that reused the id (after a Temporal reset, a lost
-- temporal.db, or a user's own id): a run is now found by its workflow id and the Temporal run that started it. The
-- first execution to use a workflow id keeps it as run id; a later one gets `<workflow id>.<run id prefix>`. Both
-- columns stay nullable: a worker of the previous release, still running during an upgrade, records runs without them.
ALTER TABLE cairn.runs ADD COLUMN workflow_id text, ADD COLUMN execution_id text;
UPDATE cairn.runs SET workflow_id = id;
CREATE UNIQUE INDEX runs_execution ON cairn.runs (workflow_id, execution_id);

-- Down Migration
DROP INDEX cairn.runs_execution;
ALTER TABLE cairn.runs DROP COLUMN execution_id, DROP COLUMN workflow_id;
