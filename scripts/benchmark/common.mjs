// Settings and helpers shared by the reference workers. Everything comes
// from the environment that scripts/bench sets: REDIS_URL, PROVIDER_URL,
// CENTRALSMM_API_ID / _API_KEY / _SECRET_KEY, INBOX_KEY, and the standard
// PGHOST / PGPORT / PGUSER / PGDATABASE variables that the pg package reads.

export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

export const settings = {
  redisUrl: requiredEnv('REDIS_URL'),
  providerUrl: requiredEnv('PROVIDER_URL'),
  inboxKey: process.env.INBOX_KEY || '{smm-syncd}:inbox',
  credentials: {
    api_id: requiredEnv('CENTRALSMM_API_ID'),
    api_key: requiredEnv('CENTRALSMM_API_KEY'),
    secret_key: requiredEnv('CENTRALSMM_SECRET_KEY'),
  },
};

// The daemon's default status map: provider word (lower case, single
// spaces) to local status.
const STATUS_MAP = new Map([
  ['pending', 'pending'],
  ['processing', 'processing'],
  ['in progress', 'processing'],
  ['success', 'success'],
  ['completed', 'success'],
  ['partial', 'partial'],
  ['error', 'error'],
  ['canceled', 'canceled'],
  ['cancelled', 'canceled'],
]);

function toCount(value) {
  if (value === null || value === undefined || value === '') return null;
  const number = Number(value);
  return Number.isFinite(number) ? Math.trunc(number) : null;
}

// Turns a status response body into {status, startCount, remains}, or null
// when the body is not a success response with a known status word.
export function parseStatus(body) {
  let answer;
  try {
    answer = JSON.parse(body);
  } catch {
    return null;
  }
  if (!answer || answer.response !== true || !answer.data) return null;
  const word = String(answer.data.status ?? '').trim().toLowerCase().replace(/[\s_]+/g, ' ');
  const status = STATUS_MAP.get(word);
  if (!status) return null;
  return { status, startCount: toCount(answer.data.start_count), remains: toCount(answer.data.remains) };
}

export function statusRequestBody(id) {
  return new URLSearchParams({ ...settings.credentials, id }).toString();
}

// Prints the worker's totals as one JSON line for scripts/bench.
export function printTotals(totals) {
  const usage = process.resourceUsage();
  const cpuMs = Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000);
  console.log(JSON.stringify({ ...totals, cpu_ms: cpuMs, max_rss_kb: usage.maxRSS }));
}
