-- On-sale day: a scheduled opening with a pre-queue, admission pacing, a proof-of-work
-- toll on entering the queue, and a limit per customer.

ALTER TABLE events
    ADD COLUMN sale_starts_at         timestamptz,
    ADD COLUMN max_per_customer       integer CHECK (max_per_customer > 0),
    ADD COLUMN queue_prequeue_seconds integer NOT NULL DEFAULT 900
        CHECK (queue_prequeue_seconds BETWEEN 0 AND 604800),
    ADD COLUMN queue_admit_per_minute integer CHECK (queue_admit_per_minute > 0),
    ADD COLUMN queue_challenge_bits   integer NOT NULL DEFAULT 0
        CHECK (queue_challenge_bits BETWEEN 0 AND 24);

-- What one account holds or has bought for an event (the per-customer limit).
CREATE INDEX reservations_live_per_customer_idx ON reservations (event_id, user_id)
    WHERE status IN ('pending', 'confirmed');
