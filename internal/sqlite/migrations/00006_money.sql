-- +goose Up
-- Money (docs/money.md): accounts' settings, the meters they pay for with
-- their dates, the prepaid ledger (append-only; an account's balance_fen is
-- the sum of its entries, kept in the same transaction), payments with
-- their receipt numbers, notices to customers and each site's control
-- policy. accounts.prepaid keeps the mode (1 prepaid, 0 postpaid).
ALTER TABLE customers ADD COLUMN id_number TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN number TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN site_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN tariff TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN billing_day INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN low_balance_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN credit_limit_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN keep_power INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN control TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN control_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET number = CAST(id AS TEXT) WHERE number = '';
CREATE UNIQUE INDEX accounts_number ON accounts (number);
CREATE INDEX accounts_customer ON accounts (customer_id);
CREATE TABLE account_meters (account_id INTEGER NOT NULL REFERENCES accounts (id), meter_id INTEGER NOT NULL REFERENCES meters (id),
  from_t INTEGER NOT NULL, to_t INTEGER NOT NULL, PRIMARY KEY (account_id, meter_id, from_t));
CREATE INDEX account_meters_meter ON account_meters (meter_id);
CREATE TABLE ledger (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), t INTEGER NOT NULL,
  kind TEXT NOT NULL, amount_fen INTEGER NOT NULL, balance_fen INTEGER NOT NULL, reference TEXT NOT NULL UNIQUE,
  by_user TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX ledger_account ON ledger (account_id, id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TABLE payments (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), amount_fen INTEGER NOT NULL,
  method TEXT NOT NULL, reference TEXT NOT NULL UNIQUE, receipt TEXT NOT NULL, by_user TEXT NOT NULL, t INTEGER NOT NULL,
  ledger_id INTEGER NOT NULL);
CREATE INDEX payments_account ON payments (account_id, id);
CREATE INDEX payments_t ON payments (t);
CREATE TABLE notices (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), t INTEGER NOT NULL,
  kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX notices_account ON notices (account_id, id);
CREATE TABLE control_policies (site_id INTEGER PRIMARY KEY, policy TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL);
