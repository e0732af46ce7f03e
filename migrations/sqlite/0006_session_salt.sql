-- The secret that signed session cookies no longer lives in the database: reading the file was
-- enough to forge an admin session. The key is now derived from the admin key (or
-- QS_SESSION_SECRET) and a random salt kept here as `session_salt`; the old secret is dropped,
-- which ends the sessions it signed.
DELETE FROM settings WHERE key = 'session_secret';

-- Sessions signed out before they expire, kept until the end of their possible life.
CREATE TABLE revoked_sessions (
    sid             TEXT    PRIMARY KEY,
    until_s         INTEGER NOT NULL
);
