-- Up Migration
-- One append-only, hash-chained log of every state change. Rows are written by triggers on the tables that hold the
-- changes (releases requested, decisions, deployment moves, alias moves, tokens created and revoked), so no code path
-- can change state without leaving a row. Each row's hash covers its content and the previous row's hash:
-- `cairn audit verify` recomputes the chain and names the first row that does not match.
CREATE TABLE cairn.audit_log (
  seq       bigint PRIMARY KEY,
  at        timestamptz NOT NULL,
  actor     text NOT NULL,
  action    text NOT NULL,
  subject   text NOT NULL,
  details   jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash      text NOT NULL
);

-- The hash of one row: sha256 over the previous hash and the row's fields, in a fixed text form (jsonb's text form is
-- canonical: keys sorted, whitespace fixed). Used by the insert trigger and by verify alike.
CREATE FUNCTION cairn.audit_hash(prev_hash text, seq bigint, at timestamptz, actor text, action text, subject text,
                                 details jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws(E'\x1f', prev_hash, seq::text,
    (extract(epoch FROM at) * 1000000)::bigint::text, actor, action, subject, details::text), 'UTF8')), 'hex')
$$;

-- Appends one row under a transaction-level lock, so concurrent writers chain one after the other.
CREATE FUNCTION cairn.audit(actor text, action text, subject text, details jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  last cairn.audit_log%ROWTYPE;
  next_seq bigint;
  prev text;
  now_at timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cairn.audit_log'));
  SELECT * INTO last FROM cairn.audit_log ORDER BY seq DESC LIMIT 1;
  next_seq := COALESCE(last.seq, 0) + 1;
  prev := COALESCE(last.hash, repeat('0', 64));
  INSERT INTO cairn.audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
  VALUES (next_seq, now_at, actor, action, subject, details, prev,
          cairn.audit_hash(prev, next_seq, now_at, actor, action, subject, details));
END
$$;

-- The log, and the history tables it is fed from, are append-only for the application.
CREATE FUNCTION cairn.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();
CREATE TRIGGER deployment_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.deployment_history
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();
CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.approvals
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();
CREATE TRIGGER model_alias_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cairn.model_alias_history
  FOR EACH STATEMENT EXECUTE FUNCTION cairn.refuse_change();

CREATE FUNCTION cairn.audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  CASE TG_TABLE_NAME
  WHEN 'releases' THEN
    PERFORM cairn.audit('cairn', 'release.requested', NEW.model || '@' || NEW.version,
      jsonb_build_object('release', NEW.id, 'environment', NEW.environment, 'strategy', NEW.strategy));
  WHEN 'approvals' THEN
    PERFORM cairn.audit(NEW."by", 'release.' || NEW.decision || CASE WHEN NEW.accepted THEN '' ELSE '.refused' END,
      NEW.release_id, jsonb_build_object('seq', NEW.seq, 'comment', NEW.comment, 'accepted', NEW.accepted));
  WHEN 'deployment_history' THEN
    PERFORM cairn.audit(NEW."by", 'deployment.' || NEW.action, NEW.model || '/' || NEW.environment,
      jsonb_build_object('revision', NEW.revision, 'stable', NEW.stable_version, 'canary', NEW.canary_version,
        'weight', NEW.canary_weight, 'previous', NEW.previous_version, 'release', NEW.release_id, 'reason', NEW.reason));
  WHEN 'model_alias_history' THEN
    PERFORM cairn.audit(NEW.set_by, 'alias.moved', NEW.model || '@' || NEW.alias,
      jsonb_build_object('version', NEW.version, 'previous', NEW.previous_version, 'reason', NEW.reason));
  WHEN 'api_tokens' THEN
    IF TG_OP = 'INSERT' THEN
      PERFORM cairn.audit('cairn', 'token.created', NEW.principal, jsonb_build_object('token', NEW.id, 'roles', NEW.roles));
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
      PERFORM cairn.audit('cairn', 'token.revoked', NEW.principal, jsonb_build_object('token', NEW.id));
    END IF;
  END CASE;
  RETURN NULL;
END
$$;
CREATE TRIGGER releases_audit AFTER INSERT ON cairn.releases FOR EACH ROW EXECUTE FUNCTION cairn.audit_change();
CREATE TRIGGER approvals_audit AFTER INSERT ON cairn.approvals FOR EACH ROW EXECUTE FUNCTION cairn.audit_change();
CREATE TRIGGER deployment_history_audit AFTER INSERT ON cairn.deployment_history
  FOR EACH ROW EXECUTE FUNCTION cairn.audit_change();
CREATE TRIGGER model_alias_history_audit AFTER INSERT ON cairn.model_alias_history
  FOR EACH ROW EXECUTE FUNCTION cairn.audit_change();
CREATE TRIGGER api_tokens_audit AFTER INSERT OR UPDATE ON cairn.api_tokens
  FOR EACH ROW EXECUTE FUNCTION cairn.audit_change();

-- Down Migration
DROP TRIGGER api_tokens_audit ON cairn.api_tokens;
DROP TRIGGER model_alias_history_audit ON cairn.model_alias_history;
DROP TRIGGER deployment_history_audit ON cairn.deployment_history;
DROP TRIGGER approvals_audit ON cairn.approvals;
DROP TRIGGER releases_audit ON cairn.releases;
DROP FUNCTION cairn.audit_change();
DROP TRIGGER model_alias_history_append_only ON cairn.model_alias_history;
DROP TRIGGER approvals_append_only ON cairn.approvals;
DROP TRIGGER deployment_history_append_only ON cairn.deployment_history;
DROP TRIGGER audit_log_append_only ON cairn.audit_log;
DROP FUNCTION cairn.refuse_change();
DROP FUNCTION cairn.audit(text, text, text, jsonb);
DROP FUNCTION cairn.audit_hash(text, bigint, timestamptz, text, text, text, jsonb);
DROP TABLE cairn.audit_log;
