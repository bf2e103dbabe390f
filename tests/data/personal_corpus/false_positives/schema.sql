-- Schema and synthetic seed data (reserved domains and fictional numbers only).
CREATE TABLE customers (
    id           BIGINT PRIMARY KEY,
    email        VARCHAR(254) NOT NULL,
    phone        VARCHAR(32),
    ssn          CHAR(11) CHECK (ssn ~ '^\d{3}-\d{2}-\d{4}$'),
    card_number  VARCHAR(19),
    iban         VARCHAR(34),
    created_at   TIMESTAMP NOT NULL DEFAULT now()
);

INSERT INTO customers (id, email, phone, ssn, card_number) VALUES
  (1, 'alice@example.com', '(212) 555-0101', '123-45-6789', '4242424242424242'),
  (2, 'bob@example.org', '(212) 555-0102', '111-22-3333', '5555555555554444'),
  (3, 'carol@example.net', '(212) 555-0103', '078-05-1120', '378282246310005'),
  (4, 'dave@shop.test', '(212) 555-0104', '219-09-9999', '6011111111111117');
