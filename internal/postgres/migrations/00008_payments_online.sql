-- +goose Up
-- Online payment orders (在线支付订单): stored before the provider is asked
-- for them; paid once the provider's verified notification credited the
-- account, in the same transaction as the ledger entry. A provider
-- transaction id belongs to one order at most: a notification repeated
-- never credits twice.
CREATE TABLE payment_orders (
  order_no       TEXT PRIMARY KEY,
  account_id     BIGINT NOT NULL REFERENCES accounts (id),
  amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
  provider       TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('created', 'paid')),
  code_url       TEXT NOT NULL DEFAULT '',
  transaction_id TEXT UNIQUE,
  created_by     TEXT NOT NULL,
  created_at     BIGINT NOT NULL,
  paid_at        BIGINT NOT NULL DEFAULT 0,
  credited_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX payment_orders_created ON payment_orders (created_at);
CREATE INDEX payment_orders_paid ON payment_orders (paid_at);
CREATE INDEX payment_orders_account ON payment_orders (account_id);
