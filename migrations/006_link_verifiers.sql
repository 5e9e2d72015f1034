-- Up Migration

-- R-TOKEN: a stored SHA-256 of a token was enough to confirm a link (issue #9). Rows now keep a
-- verifier (SHA-256 of SHA-256 of the token), which proves nothing, and the token itself only
-- sealed (AES-256-GCM) until its mail is sent. Old hashes are credentials: they are wiped.
ALTER TABLE mail_messages RENAME COLUMN token_hash TO token_verifier;
UPDATE mail_messages SET token_verifier = NULL;
ALTER TABLE mail_messages ADD COLUMN token_sealed bytea;

-- Down Migration
ALTER TABLE mail_messages DROP COLUMN token_sealed;
ALTER TABLE mail_messages RENAME COLUMN token_verifier TO token_hash;
