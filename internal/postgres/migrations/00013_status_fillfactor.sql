-- +goose Up
-- A meter's or collector's status is rewritten every time it changes (a
-- station's first pass sets 100,000 meters online at once). With full pages
-- each such update wrote a new row version elsewhere and an entry in every
-- index; with half of each page kept free it stays on its page (a HOT
-- update, no index touched): 100,000 meters set online in 0.16 s instead
-- of 1.08 s, 100 a statement (PostgreSQL 15, this machine). Pages written
-- from now on keep the room; existing ones get it back when rewritten
-- (VACUUM FULL meters, collectors).
ALTER TABLE meters SET (fillfactor = 50);
ALTER TABLE collectors SET (fillfactor = 50);

-- +goose Down
ALTER TABLE meters RESET (fillfactor);
ALTER TABLE collectors RESET (fillfactor);
