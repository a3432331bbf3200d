-- Users, events, inventory and reservations.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE events (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text NOT NULL,
    venue                 text NOT NULL,
    starts_at             timestamptz NOT NULL,
    queue_mode            text NOT NULL DEFAULT 'off' CHECK (queue_mode IN ('off', 'on', 'auto')),
    queue_capacity        integer NOT NULL DEFAULT 100 CHECK (queue_capacity > 0),
    queue_session_seconds integer NOT NULL DEFAULT 600 CHECK (queue_session_seconds > 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- `available` is decremented under the row lock by every hold: the CHECK is the last
-- line of defence against overselling.
CREATE TABLE ticket_types (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name          text NOT NULL,
    price         numeric(12, 2) NOT NULL CHECK (price >= 0),
    total         integer NOT NULL CHECK (total >= 0),
    available     integer NOT NULL,
    max_per_order integer NOT NULL DEFAULT 10 CHECK (max_per_order > 0),
    seated        boolean NOT NULL DEFAULT false,
    CHECK (available >= 0 AND available <= total)
);
CREATE INDEX ticket_types_event_idx ON ticket_types (event_id);

CREATE TABLE reservations (
    id           uuid PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    event_id     bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status       text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    -- The seats it was made for; kept after they are released so the record stays whole.
    seat_ids     bigint[] NOT NULL DEFAULT '{}',
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_user_idx ON reservations (user_id, created_at DESC);
CREATE INDEX reservations_pending_expiry_idx ON reservations (expires_at) WHERE status = 'pending';

CREATE TABLE reservation_items (
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    ticket_type_id bigint NOT NULL REFERENCES ticket_types (id),
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, ticket_type_id)
);

-- A seat belongs to at most one live reservation: status and reservation_id change
-- together under the row lock.
CREATE TABLE seats (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    ticket_type_id bigint NOT NULL REFERENCES ticket_types (id),
    section        text NOT NULL,
    row            text NOT NULL,
    number         integer NOT NULL,
    label          text NOT NULL,
    status         text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    reservation_id uuid REFERENCES reservations (id),
    CHECK ((status = 'available') = (reservation_id IS NULL)),
    UNIQUE (event_id, section, row, number)
);
CREATE INDEX seats_reservation_idx ON seats (reservation_id) WHERE reservation_id IS NOT NULL;

CREATE TABLE idempotency_keys (
    user_id        bigint NOT NULL REFERENCES users (id),
    key            text NOT NULL,
    request_hash   text NOT NULL,
    reservation_id uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
