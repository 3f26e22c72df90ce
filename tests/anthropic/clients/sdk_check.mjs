// The TypeScript SDK against the gateway: a message, a stream, and an error, printed as JSON.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.ANTHROPIC_BASE_URL, apiKey: process.env.ANTHROPIC_API_KEY,
                               maxRetries: 0 });
const ask = { model: "claude-sonnet-4-5", max_tokens: 256, messages: [{ role: "user", content: "Hi there" }],
              thinking: { type: "enabled", budget_tokens: 512 } };
const message = await client.messages.create(ask);
const stream = client.messages.stream(ask);
const kinds = [];
stream.on("streamEvent", (event) => kinds.push(event.type));
const streamed = await stream.finalMessage();
let error = null;
try {
  await new Anthropic({ baseURL: process.env.ANTHROPIC_BASE_URL, apiKey: "wrong", maxRetries: 0 }).messages.create(ask);
} catch (e) {
  error = { name: e.constructor.name, status: e.status, type: e.error?.error?.type };
}
console.log(JSON.stringify({ message, streamed, kinds, error }));
