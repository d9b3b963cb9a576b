// Reference worker written the way a competent Node.js developer would:
// ids taken from the inbox in batches, IN_FLIGHT provider requests at once
// over keep-alive connections, and rows written by one UPDATE per batch.
// It stops when the inbox is empty and every write is committed.
import http from 'node:http';
import pg from 'pg';
import { createClient } from 'redis';
import { parseStatus, printTotals, settings, statusRequestBody } from './common.mjs';

const IN_FLIGHT = Number(process.env.IN_FLIGHT || 64);
const POP_BATCH = Number(process.env.POP_BATCH || 256);
const WRITE_BATCH = Number(process.env.WRITE_BATCH || 500);
const WRITE_DELAY_MS = Number(process.env.WRITE_DELAY_MS || 20);

const provider = new URL(`${settings.providerUrl}/api/status`);
const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

const redis = createClient({ url: settings.redisUrl });
await redis.connect();
const db = new pg.Client();
await db.connect();

const totals = { orders: 0, failed: 0 };

// ---- inbox: one RPOP with COUNT refills a local buffer ----
let buffer = [];
let inboxEmpty = false;
let refilling = null;

async function nextId() {
  while (buffer.length === 0 && !inboxEmpty) {
    refilling ??= redis.rPopCount(settings.inboxKey, POP_BATCH).then((ids) => {
      if (!ids || ids.length === 0) inboxEmpty = true;
      else buffer = buffer.concat(ids);
      refilling = null;
    });
    await refilling;
  }
  return buffer.length > 0 ? buffer.shift() : null;
}

// ---- provider ----
function fetchStatus(id) {
  return new Promise((resolve) => {
    const body = statusRequestBody(id);
    const request = http.request(
      provider,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const ok = response.statusCode === 200;
          resolve(ok ? parseStatus(Buffer.concat(chunks).toString()) : null);
        });
        response.on('error', () => resolve(null));
      },
    );
    request.on('error', () => resolve(null));
    request.end(body);
  });
}

// ---- batched writes: one UPDATE ... FROM unnest(...) per batch ----
const UPDATE_SQL =
  'UPDATE orders o SET status = u.status, start_count = u.start_count, remains = u.remains, ' +
  'provider_synced_at = now() ' +
  'FROM unnest($1::bigint[], $2::text[], $3::int8[], $4::int8[]) AS u(id, status, start_count, remains) ' +
  'WHERE o.provider_order_id = u.id AND (o.status IS DISTINCT FROM u.status ' +
  'OR o.start_count IS DISTINCT FROM u.start_count OR o.remains IS DISTINCT FROM u.remains)';

let pending = [];
let writing = Promise.resolve();
let writeTimer = null;

function flush() {
  if (writeTimer !== null) {
    clearTimeout(writeTimer);
    writeTimer = null;
  }
  if (pending.length === 0) return writing;
  const rows = pending;
  pending = [];
  // Writes run one after another on the one connection, so rows that
  // arrive meanwhile gather into the next batch.
  writing = writing.then(() =>
    db.query(UPDATE_SQL, [
      rows.map((row) => row.id),
      rows.map((row) => row.status),
      rows.map((row) => row.startCount),
      rows.map((row) => row.remains),
    ]),
  );
  return writing;
}

function queueWrite(row) {
  pending.push(row);
  if (pending.length >= WRITE_BATCH) flush();
  else writeTimer ??= setTimeout(flush, WRITE_DELAY_MS);
}

async function pollLoop() {
  for (let id = await nextId(); id !== null; id = await nextId()) {
    const state = await fetchStatus(id);
    if (state === null) {
      totals.failed += 1;
      continue;
    }
    totals.orders += 1;
    queueWrite({ id: id.trim(), ...state });
  }
}

await Promise.all(Array.from({ length: IN_FLIGHT }, pollLoop));
await flush();
agent.destroy();
await redis.quit();
await db.end();
printTotals(totals);
