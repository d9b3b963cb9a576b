// Pushes ids FIRST+1 .. FIRST+RATE*SECONDS into the inbox at a steady RATE
// per second and prints "id,push_unix_ms" for each, the time taken just
// before its LPUSH is sent. Timing corrects for drift against the start.
import { createClient } from 'redis';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

const rate = Number(requiredEnv('PUSH_RATE'));
const seconds = Number(requiredEnv('PUSH_SECONDS'));
const first = Number(requiredEnv('FIRST_ID'));
const inboxKey = process.env.INBOX_KEY || '{smm-syncd}:inbox';

const redis = createClient({ url: requiredEnv('REDIS_URL') });
await redis.connect();

const count = Math.round(rate * seconds);
const started = Date.now();
const lines = [];
for (let i = 0; i < count; i += 1) {
  const due = started + (i * 1000) / rate;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const id = String(first + 1 + i);
  lines.push(`${id},${Date.now()}`);
  await redis.lPush(inboxKey, id);
}
await redis.quit();
console.log(lines.join('\n'));
