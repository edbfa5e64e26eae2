-- Up Migration
-- Roles scoped to a model: admin, release:<model>, approver:<model>, predict:<model>, where <model> may be `*` (every
-- model). The unscoped roles of earlier tokens keep what they granted, spelled out.
UPDATE cairn.api_tokens SET roles = array_replace(array_replace(roles, 'predict', 'predict:*'), 'approver', 'approver:*');

-- Tokens expire; who issued and who revoked one is recorded (and audited).
ALTER TABLE cairn.api_tokens
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN created_by text NOT NULL DEFAULT 'cairn',
  ADD COLUMN revoked_by text;

-- A release records who requested it (the principal of the token it was started with), and a decision that was not
-- accepted says why.
ALTER TABLE cairn.releases ADD COLUMN requested_by text;
ALTER TABLE cairn.approvals ADD COLUMN refusal text;

-- A revocation is announced at once to every process that caches tokens (LISTEN cairn_token_revoked).
CREATE FUNCTION cairn.announce_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cairn_token_revoked', NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER api_tokens_revoked AFTER UPDATE OF revoked_at ON cairn.api_tokens
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION cairn.announce_revocation();

-- The token rows of the audit log name the principal who issued or revoked them.
CREATE OR REPLACE FUNCTION cairn.audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  CASE TG_TABLE_NAME
  WHEN 'releases' THEN
    PERFORM cairn.audit(COALESCE(NEW.requested_by, 'cairn'), 'release.requested', NEW.model || '@' || NEW.version,
      jsonb_build_object('release', NEW.id, 'environment', NEW.environment, 'strategy', NEW.strategy));
  WHEN 'approvals' THEN
    PERFORM cairn.audit(NEW."by", 'release.' || NEW.decision || CASE WHEN NEW.accepted THEN '' ELSE '.refused' END,
      NEW.release_id, jsonb_build_object('seq', NEW.seq, 'comment', NEW.comment, 'accepted', NEW.accepted)
        || CASE WHEN NEW.refusal IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('refusal', NEW.refusal) END);
  WHEN 'deployment_history' THEN
    PERFORM cairn.audit(NEW."by", 'deployment.' || NEW.action, NEW.model || '/' || NEW.environment,
      jsonb_build_object('revision', NEW.revision, 'stable', NEW.stable_version, 'canary', NEW.canary_version,
        'weight', NEW.canary_weight, 'previous', NEW.previous_version, 'release', NEW.release_id, 'reason', NEW.reason));
  WHEN 'model_alias_history' THEN
    PERFORM cairn.audit(NEW.set_by, 'alias.moved', NEW.model || '@' || NEW.alias,
      jsonb_build_object('version', NEW.version, 'previous', NEW.previous_version, 'reason', NEW.reason));
  WHEN 'api_tokens' THEN
    IF TG_OP = 'INSERT' THEN
      PERFORM cairn.audit(NEW.created_by, 'token.created', NEW.principal,
        jsonb_build_object('token', NEW.id, 'roles', NEW.roles, 'expires', NEW.expires_at));
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
      PERFORM cairn.audit(COALESCE(NEW.revoked_by, 'cairn'), 'token.revoked', NEW.principal,
        jsonb_build_object('token', NEW.id));
    END IF;
  END CASE;
  RETURN NULL;
END
$$;

-- Down Migration
ALTER TABLE cairn.approvals DROP COLUMN refusal;
ALTER TABLE cairn.releases DROP COLUMN requested_by;
DROP TRIGGER api_tokens_revoked ON cairn.api_tokens;
DROP FUNCTION cairn.announce_revocation();
ALTER TABLE cairn.api_tokens DROP COLUMN expires_at, DROP COLUMN created_by, DROP COLUMN revoked_by;
UPDATE cairn.api_tokens SET roles = array_replace(array_replace(roles, 'predict:*', 'predict'), 'approver:*', 'approver');
