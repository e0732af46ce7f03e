-- Gateway-wide settings, e.g. the secret that signs session cookies (so sessions survive restarts).
CREATE TABLE settings (
    key             TEXT    PRIMARY KEY,
    value           BLOB    NOT NULL
);
