-- Up Migration
-- What a runPipeline run returned (its named outputs: references and small values), so `cairn reproduce <run>` can
-- compare a re-run with it after Temporal's history of the run is gone.
ALTER TABLE cairn.runs ADD COLUMN outputs jsonb;

-- Down Migration
ALTER TABLE cairn.runs DROP COLUMN outputs;
