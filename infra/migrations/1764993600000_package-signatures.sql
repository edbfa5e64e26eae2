-- Up Migration
-- The ed25519 signature of a version's package (key id, signer, signature, when), made at registration with a key
-- kept in a file; the public keys that verify it are files too (signing.trustDir), never rows here.
ALTER TABLE cairn.model_versions ADD COLUMN signature jsonb;

-- Down Migration
ALTER TABLE cairn.model_versions DROP COLUMN signature;
