-- Up Migration
-- One report per check of a monitorModel workflow; `seq` numbers its checks across continue-as-new, so a retried
-- check writes its report once.
CREATE TABLE cairn.monitoring_reports (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  monitor_id   text NOT NULL,
  seq          integer NOT NULL,
  model        text NOT NULL,
  environment  text NOT NULL,
  version      integer NOT NULL,
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  status       text NOT NULL CHECK (status IN ('ok', 'warn', 'alert', 'no-traffic')),
  breaches     jsonb NOT NULL,
  report       jsonb NOT NULL,
  retrain_id   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (monitor_id, seq),
  FOREIGN KEY (model, version) REFERENCES cairn.model_versions (model, version)
);
CREATE INDEX monitoring_reports_model ON cairn.monitoring_reports (model, environment, window_end DESC);

-- Down Migration
DROP TABLE cairn.monitoring_reports;
