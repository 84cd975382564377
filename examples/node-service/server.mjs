// A Node.js service that renders its prompts through the `promptctl serve` sidecar and keeps
// serving from the generated TypeScript registry when the sidecar is down (docs/serve.md,
// "From another language: examples/node-service"). Node's built-in `http` and `fetch` only; the
// registry needs `handlebars`.
//
//   promptctl codegen --lang typescript --out registry.ts
//   tsc --strict --outDir dist registry.ts
//   SIDECAR_URL=http://127.0.0.1:8080 PROMPTS_REGISTRY=dist/registry.js PORT=3000 node server.mjs
//
// Environment: SIDECAR_URL (the sidecar, default http://127.0.0.1:8080), PROMPTS_REGISTRY (the
// compiled registry module, default ./dist/registry.js), PROMPTS_ENV (the environment whose
// versions the registry falls back to before the sidecar said anything, default production),
// PORT (default 3000), HOST (default 127.0.0.1).
//
// `POST /render/{name}` with a JSON object of the application's data (every field it has): the
// active version of `name` rendered with the fields that version declares, as
// `{"name","version","text","source"}`, `source` being `sidecar` or `registry`. The active version
// is what the sidecar's `GET /v1/prompts` said at start and `GET /v1/watch` said since; a 422 of
// the sidecar (data that does not fit the contract) is passed on, never hidden by the fallback.
// `GET /health` answers 200 with the sidecar's state and the versions known.
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const SIDECAR = (process.env.SIDECAR_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const REGISTRY = path.resolve(process.env.PROMPTS_REGISTRY ?? "dist/registry.js");
const ENV = process.env.PROMPTS_ENV ?? "production";
const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? "127.0.0.1";
/** How long a sidecar request may take before the registry answers instead. */
const SIDECAR_TIMEOUT_MS = 1000;
/** After a sidecar failure, requests go to the registry for this long before trying again. */
const RETRY_AFTER_MS = 1000;

// The registry is compiled by tsc (CommonJS by default, ES module with `--module nodenext`).
const loaded = await import(pathToFileURL(REGISTRY).href);
const registry = typeof loaded.lookup === "function" ? loaded : loaded.default;

const log = (message, fields = {}) =>
  process.stderr.write(JSON.stringify({ at: new Date().toISOString(), message, ...fields }) + "\n");

/** Prompt name → the active version number, as the sidecar last said. */
const active = new Map();
/** `name@version` → the names of the variables that version declares. */
const contracts = new Map();
/** When the sidecar may be asked again after a failure (0: now). */
let sidecarDownUntil = 0;
let watching = false;

class SidecarError extends Error {}

async function sidecar(pathname, init = {}) {
  let response;
  try {
    response = await fetch(SIDECAR + pathname, {
      ...init,
      signal: init.signal ?? AbortSignal.timeout(SIDECAR_TIMEOUT_MS),
    });
  } catch (error) {
    throw new SidecarError(`${pathname}: ${error.cause?.code ?? error.message}`);
  }
  if (response.status >= 500) {
    throw new SidecarError(`${pathname}: ${response.status}`);
  }
  return response;
}

/** The variable names of `name` version `version`, read once from the sidecar. */
async function contract(name, version) {
  const key = `${name}@${version}`;
  if (!contracts.has(key)) {
    const response = await sidecar(`/v1/prompts/${encodeURIComponent(name)}/versions/${version}`);
    if (!response.ok) {
      throw new SidecarError(`${key}: ${response.status}`);
    }
    const body = await response.json();
    contracts.set(key, Object.keys(body.variables ?? {}));
  }
  return contracts.get(key);
}

/** Makes `version` the active one of `name` once its contract is known (so the switch is whole). */
async function activate(name, version) {
  await contract(name, version);
  if (active.get(name) !== version) {
    log("active version", { name, version, previous: active.get(name) ?? null });
    active.set(name, version);
  }
}

async function readList() {
  const response = await sidecar("/v1/prompts");
  const { prompts } = await response.json();
  for (const prompt of prompts) {
    await activate(prompt.name, prompt.version);
  }
}

/** Follows `GET /v1/watch` for ever: reads the list, then applies each activation event. */
async function follow() {
  let backoff = 100;
  for (;;) {
    try {
      const controller = new AbortController();
      const response = await fetch(SIDECAR + "/v1/watch", { signal: controller.signal });
      if (!response.ok || response.body === null) {
        throw new Error(`watch: ${response.status}`);
      }
      // What the list says now, after the stream is open: nothing is missed in between.
      await readList();
      watching = true;
      backoff = 100;
      log("watching", { sidecar: SIDECAR, prompts: active.size });
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          await onEvent(block);
        }
      }
      throw new Error("watch: the stream ended");
    } catch (error) {
      watching = false;
      log("sidecar watch lost; retrying", { error: error.cause?.code ?? error.message, backoff });
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 2000);
    }
  }
}

async function onEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (event === "activation") {
    const { name, version } = JSON.parse(data.join("\n"));
    await activate(name, version);
  } else if (event === "lagged") {
    await readList();
  }
}

/** `data`'s fields that `names` lists (all of `data` when the contract is not known). */
function pick(data, names) {
  if (names === undefined) return data;
  return Object.fromEntries(names.filter((key) => key in data).map((key) => [key, data[key]]));
}

/** Renders `name` with `data`: through the sidecar, else from the registry. */
async function render(name, data) {
  const version = active.get(name);
  if (Date.now() >= sidecarDownUntil) {
    try {
      const vars = version === undefined ? data : pick(data, await contract(name, version));
      const response = await sidecar(`/v1/prompts/${encodeURIComponent(name)}/render`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(version === undefined ? { vars } : { vars, version }),
      });
      const body = await response.json();
      if (!response.ok) {
        return { status: response.status, body };
      }
      return {
        status: 200,
        body: { name, version: body.version, text: body.text, source: "sidecar" },
      };
    } catch (error) {
      if (!(error instanceof SidecarError)) throw error;
      sidecarDownUntil = Date.now() + RETRY_AFTER_MS;
      log("sidecar unavailable; rendering from the registry", { error: error.message });
    }
  }
  const prompt = registry.lookup(name);
  if (prompt === undefined) {
    return { status: 404, body: { code: "not-found", message: `no prompt \`${name}\`` } };
  }
  const wanted = version ?? prompt.activate[ENV];
  const chosen =
    prompt.versions.find((candidate) => candidate.version === wanted) ??
    prompt.versions.find((candidate) => candidate.version === prompt.activate[ENV]);
  if (chosen === undefined) {
    return { status: 503, body: { code: "unavailable", message: `no version of \`${name}\`` } };
  }
  const names = contracts.get(`${name}@${chosen.version}`);
  const text = chosen.renderUnchecked(pick(data, names));
  return { status: 200, body: { name, version: chosen.version, text, source: "registry" } };
}

function send(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

async function handle(request, response) {
  const url = new URL(request.url, "http://localhost");
  if (request.method === "GET" && url.pathname === "/health") {
    return send(response, 200, {
      sidecar: Date.now() < sidecarDownUntil ? "down" : "up",
      watching,
      active: Object.fromEntries(active),
    });
  }
  const match = /^\/render\/([A-Za-z0-9._-]+)$/.exec(url.pathname);
  if (match === null) {
    return send(response, 404, { code: "not-found", message: "unknown path" });
  }
  if (request.method !== "POST") {
    return send(response, 405, { code: "method-not-allowed", message: "POST only" });
  }
  let data;
  try {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return send(response, 400, { code: "bad-json", message: "the body is not JSON" });
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return send(response, 400, { code: "bad-json", message: "the body is not a JSON object" });
  }
  const { status, body } = await render(match[1], data);
  send(response, status, body);
}

const server = http.createServer((request, response) => {
  handle(request, response).catch((error) => {
    log("request failed", { error: error.message });
    if (!response.headersSent) send(response, 500, { code: "internal", message: error.message });
  });
});
server.listen(PORT, HOST, () => {
  log("listening", { url: `http://${HOST}:${server.address().port}` });
});
follow();
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
