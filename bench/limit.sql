-- One order's intake as POST /api/v1/orders runs it, for `pgbench -M prepared` (bench/limit.py).
-- The same statements, in the same order and round trips, as the Django hot path: the API key
-- lookup, then one transaction — advisory lock on the Idempotency-Key, stored-key lookup,
-- catalog read, the destination's tax rates, the shop's shipping methods, the order, its 1 to 5
-- lines in one INSERT, the outbox row, the stored response. Intake reserves no stock (a
-- subscriber of order.placed does).
-- Set by bench/limit.py with -D: shop_id, key_prefix, product_id0 (BENCH-0's id).
\set lines random(1, 5)
\set first random(0, 20 - :lines)
\set quantity random(1, 3)
\set nonce random(1, 9000000000000000000)
SELECT k.id, k.prefix, k.hashed_key, k.created, k.name, k.revoked, k.expiry_date, k.shop_id,
       k.last_used_at, s.id, s.name, s.slug, s.currency, s.contact_email, s.tax_rate,
       s.legal_name, s.address, s.tax_id, s.created_at
  FROM orders_shopapikey k INNER JOIN orders_shop s ON (k.shop_id = s.id)
 WHERE (k.prefix = :key_prefix AND NOT k.revoked) ORDER BY k.created DESC LIMIT 1;
BEGIN;
SELECT pg_try_advisory_xact_lock(
  hashtextextended('shop:' || :shop_id::bigint || chr(31) || 'pgbench-' || :client_id::int || '-' || :nonce::bigint, 0));
SELECT id, scope, key, fingerprint, response_status, response_body, created_at, expires_at
  FROM orderflow_idempotencykey
 WHERE (key = 'pgbench-' || :client_id::int || '-' || :nonce::bigint AND scope = 'shop:' || :shop_id::bigint)
 ORDER BY id ASC LIMIT 1;
SELECT id, sku, name, price, currency, tax_class, weight_grams FROM orders_product
 WHERE (shop_id = :shop_id::bigint
        AND sku = ANY (ARRAY(SELECT 'BENCH-' || g FROM generate_series(:first::int, :first::int + :lines::int - 1) g)))
 ORDER BY sku ASC;
SELECT tax_class, country, rate FROM orders_taxrate
 WHERE shop_id = :shop_id::bigint AND country IN ('PT', '');
SELECT id, shop_id, code, name, kind, price, weight_bands, free_above, countries, tax_class,
       active, created_at, updated_at
  FROM orders_shippingmethod WHERE active AND shop_id = :shop_id::bigint ORDER BY shop_id, code;
INSERT INTO orders_order (id, shop_id, number, status, customer_name, customer_email,
                          shipping_address, currency, subtotal, total, payment_token,
                          tracking_token, status_reason, carrier, tracking_number, version,
                          external_reference, metadata, created_at, updated_at,
                          customer_locale, prices_include_tax, discount_total, shipping_method,
                          shipping_method_name, shipping_total, shipping_tax_rate, shipping_tax,
                          tax_total, discounts, payment_mode, payment_reference)
VALUES (gen_random_uuid(), :shop_id::bigint,
        'PG-' || upper(substr(md5(:client_id::int || '-' || :nonce::bigint), 1, 12)), 'placed',
        'Bench Customer', 'bench@example.com',
        '{"line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001", "country": "PT"}'::jsonb,
        'EUR', 9.90 * :quantity::int * :lines::int, 9.90 * :quantity::int * :lines::int, 'tok_ok',
        md5(:nonce::bigint || '-' || :client_id::int), '', '', '', 1, '', '{}'::jsonb, now(), now(),
        'en', true, 0, '', '', 0, 0, 0, 1.65 * :quantity::int * :lines::int, '[]'::jsonb,
        'charge', '')
RETURNING id AS order_id \gset
INSERT INTO orders_orderline (order_id, product_id, sku, name, unit_price, quantity, line_total,
                              discount_amount, tax_rate, tax_amount)
SELECT * FROM UNNEST(
  array_fill(:order_id::uuid, ARRAY[:lines::int]),
  ARRAY(SELECT :product_id0::bigint + g FROM generate_series(:first::int, :first::int + :lines::int - 1) g),
  ARRAY(SELECT ('BENCH-' || g)::varchar FROM generate_series(:first::int, :first::int + :lines::int - 1) g),
  ARRAY(SELECT ('BENCH-' || g)::varchar FROM generate_series(:first::int, :first::int + :lines::int - 1) g),
  array_fill(9.90::numeric, ARRAY[:lines::int]),
  array_fill(:quantity::int, ARRAY[:lines::int]),
  array_fill(9.90 * :quantity::int, ARRAY[:lines::int]),
  array_fill(0::numeric, ARRAY[:lines::int]),
  array_fill(0.2::numeric, ARRAY[:lines::int]),
  array_fill(1.65 * :quantity::int, ARRAY[:lines::int])
) RETURNING id;
INSERT INTO orderflow_outboxevent (event_id, type, version, aggregate, aggregate_id, sequence,
                                   tenant_id, correlation_id, causation_id, idempotency_key,
                                   trace_context, data, occurred_at, created_at, published_at,
                                   position)
VALUES (gen_random_uuid(), 'order.placed', 1, 'order', :order_id::text, 1, :shop_id::text,
        md5(:order_id::text), '', '', '{}'::jsonb,
        jsonb_build_object(
          'order_id', :order_id::text, 'shop_id', :shop_id::bigint, 'number', 'OF-PGBENCH0',
          'currency', 'EUR', 'subtotal', '29.70', 'total', '29.70',
          'customer_name', 'Bench Customer', 'customer_email', 'bench@example.com',
          'lines', '[{"product_id": 1, "sku": "BENCH-0", "quantity": 2, "unit_price": "9.90"},
                     {"product_id": 4, "sku": "BENCH-3", "quantity": 1, "unit_price": "9.90"}]'::jsonb),
        now(), now(), NULL, NULL);
INSERT INTO orderflow_idempotencykey (scope, key, fingerprint, response_status, response_body,
                                      created_at, expires_at)
VALUES ('shop:' || :shop_id::bigint, 'pgbench-' || :client_id::int || '-' || :nonce::bigint,
        md5(:order_id::text) || md5(:nonce::bigint::text), 201,
        jsonb_build_object(
          'id', :order_id::text, 'number', 'OF-PGBENCH0', 'status', 'placed', 'currency', 'EUR',
          'subtotal', '29.70', 'total', '29.70',
          'customer', '{"name": "Bench Customer", "email": "bench@example.com"}'::jsonb,
          'shipping_address', '{"line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001", "country": "PT"}'::jsonb,
          'lines', '[{"sku": "BENCH-0", "name": "BENCH-0", "unit_price": "9.90", "quantity": 2, "line_total": "19.80"},
                     {"sku": "BENCH-3", "name": "BENCH-3", "unit_price": "9.90", "quantity": 1, "line_total": "9.90"}]'::jsonb,
          'allowed_actions', '["cancel"]'::jsonb, 'carrier', '', 'tracking_number', '',
          'tracking_url', '/track/' || md5(:order_id::text),
          'created_at', now()::text, 'updated_at', now()::text),
        now(), now() + interval '24 hours')
RETURNING id;
COMMIT;
