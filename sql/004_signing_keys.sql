-- The keys that sign admission tokens (Ed25519). Instances load them from here; the
-- private half is encrypted with a key derived from TICKETD_SECRET and never leaves the
-- instances' memory.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    private_key  bytea NOT NULL,          -- AES-GCM: 12-byte nonce, then ciphertext and tag
    public_key   bytea NOT NULL,          -- the raw 32 bytes
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- It signs from this moment on (every instance has loaded it by then)...
    activates_at timestamptz NOT NULL,
    -- ...and stays published until every token it signed has expired (null: still signing).
    retires_at   timestamptz
);
