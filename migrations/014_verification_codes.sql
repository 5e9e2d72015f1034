-- Up Migration

-- Issue #15 item 7: each verification mail also carries a 6-digit code. Only the code's verifier is
-- kept (SHA-256 of an HMAC keyed from the link signing key, src/verification-codes.ts), like a link's;
-- the code itself waits sealed with its token in token_sealed until the mail is sent.
ALTER TABLE mail_messages ADD COLUMN code_verifier text;

-- Down Migration
ALTER TABLE mail_messages DROP COLUMN code_verifier;
