// Reads a prompt's active version from promptctl's Redis cache, as an application in another
// language would (docs/runtime.md, "Reading the cache from another language"), with the npm
// `redis` client (v4):
//
//   node read-cache.mjs REDIS_URL PREFIX NAME [NOTICES]
//
// It reads `{PREFIX}{NAME}:active` (schemas/cache-entry.schema.json), refuses an entry whose
// content does not hash to its sha256, and prints `{"event":"entry","entry":…}` (one JSON line).
// With NOTICES > 0 it then subscribes to `{PREFIX}activations`, prints `{"event":"subscribed"}`,
// and for each notice (schemas/cache-notice.schema.json) about NAME, or named `*`, prints it and
// reads the entry again (keeping what it has when the new reading has a lower revision), until it
// has seen NOTICES of them. Exit codes: 0 done, 1 no or bad entry, 2 usage.
import { createHash } from "node:crypto";
import { createClient } from "redis";

const [url, prefix, name, notices = "0"] = process.argv.slice(2);
if (url === undefined || prefix === undefined || name === undefined || !/^\d+$/.test(notices)) {
  console.error("usage: node read-cache.mjs REDIS_URL PREFIX NAME [NOTICES]");
  process.exit(2);
}

const print = (event) => process.stdout.write(JSON.stringify(event) + "\n");

class BadEntry extends Error {}

/** The verified entry of `name`: its JSON, with its content hashing to its sha256. */
async function readEntry(client) {
  const key = `${prefix}${name}:active`;
  const raw = await client.get(key);
  if (raw === null) {
    throw new BadEntry(`\`${key}\` does not exist: the cache has no active version of ${name}`);
  }
  const entry = JSON.parse(raw);
  if (typeof entry.content !== "string" || typeof entry.sha256 !== "string") {
    throw new BadEntry(`\`${key}\` is not a cache entry (no string content and sha256)`);
  }
  const actual = createHash("sha256").update(entry.content, "utf8").digest("hex");
  if (actual !== entry.sha256) {
    throw new BadEntry(
      `\`${key}\`: the content's sha256 is ${actual}, not the entry's ${entry.sha256}; not serving it`,
    );
  }
  return entry;
}

const client = createClient({ url });
client.on("error", (error) => console.error(`redis: ${error.message}`));
await client.connect();
let served;
try {
  served = await readEntry(client);
} catch (error) {
  console.error(error instanceof BadEntry ? error.message : String(error));
  await client.quit();
  process.exit(1);
}
print({ event: "entry", entry: served });

let remaining = Number(notices);
if (remaining === 0) {
  await client.quit();
} else {
  const subscriber = client.duplicate();
  subscriber.on("error", (error) => console.error(`redis: ${error.message}`));
  await subscriber.connect();
  // Notices are handled one at a time, in order.
  let queue = Promise.resolve();
  await subscriber.subscribe(`${prefix}activations`, (message) => {
    queue = queue.then(async () => {
      const notice = JSON.parse(message);
      if (notice.name !== name && notice.name !== "*") {
        return;
      }
      print({ event: "notice", notice });
      try {
        const entry = await readEntry(client);
        // Never go back in time: a lower revision is an older reading.
        if ((entry.revision ?? 0) >= (served.revision ?? 0)) {
          served = entry;
          print({ event: "entry", entry });
        } else {
          print({ event: "ignored", entry });
        }
      } catch (error) {
        console.error(error instanceof BadEntry ? error.message : String(error));
        process.exitCode = 1;
      }
      remaining -= 1;
      if (remaining === 0) {
        await subscriber.unsubscribe();
        await subscriber.quit();
        await client.quit();
      }
    });
  });
  print({ event: "subscribed" });
}
