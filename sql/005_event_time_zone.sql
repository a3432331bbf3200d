-- Each event takes place in one time zone (an IANA name such as Asia/Seoul): pages show its
-- times there, whatever the fan's own zone. The API checks names against the tz database;
-- events from before keep UTC, the default.
ALTER TABLE events ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (time_zone <> '' AND length(time_zone) <= 64);
