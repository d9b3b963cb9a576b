// Reference worker in the style most panels use today: pop one id from the
// inbox, request its status from the provider, update the row, pop the
// next. It stops when the inbox is empty (a production loop would BRPOP
// and wait instead).
import pg from 'pg';
import { createClient } from 'redis';
import { parseStatus, printTotals, settings, statusRequestBody } from './common.mjs';

const redis = createClient({ url: settings.redisUrl });
await redis.connect();
const db = new pg.Client();
await db.connect();

const totals = { orders: 0, failed: 0 };
for (;;) {
  const id = await redis.rPop(settings.inboxKey);
  if (id === null) break;

  // Node's fetch keeps connections alive by default, which already spares
  // this loop the TCP handshake that a PHP cron script pays per request.
  const response = await fetch(`${settings.providerUrl}/api/status`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: statusRequestBody(id),
  });
  const state = parseStatus(await response.text());
  if (!response.ok || state === null) {
    totals.failed += 1;
    continue;
  }
  await db.query(
    'UPDATE orders SET status = $1, start_count = $2, remains = $3, provider_synced_at = now() ' +
      'WHERE provider_order_id = $4',
    [state.status, state.startCount, state.remains, id.trim()],
  );
  totals.orders += 1;
}

await redis.quit();
await db.end();
printTotals(totals);
