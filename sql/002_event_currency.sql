-- Each event is priced in one currency (ISO 4217 code); pages format prices with it.
ALTER TABLE events ADD COLUMN currency text NOT NULL DEFAULT 'EUR'
    CHECK (currency ~ '^[A-Z]{3}$');
