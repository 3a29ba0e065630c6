// Captured content as a conversation: roles, the system prompt, tool calls with their arguments
// and results, images as placeholders, streamed output joined, and the raw JSON one click away.
//
// Content arrives as the text each sender stored (see ingest/conventions and the SDK/gateway):
//   - the SDK: OpenAI chat messages / choices' messages, Responses {instructions, input} and output
//     items, Anthropic {system, messages} and content blocks (streams already joined);
//   - the gateway: the request body as sent, the reply text (and tool-call arguments) joined;
//   - OpenInference: input.value / output.value (request and response bodies), or flattened
//     llm.input_messages.N.message.* keys;
//   - OTel GenAI (OpenLLMetry, OpenLIT, opentelemetry-instrumentation-openai-v2): gen_ai.input.messages
//     [{role, parts: [{type: text | tool_call | tool_call_response | blob | uri ...}]}], or OpenAI-style
//     messages rebuilt from log events;
//   - Langfuse: observation input/output (messages, a message or plain text).
// Everything is built with dom.js `h` (text nodes): content is attacker-controlled and is never
// parsed as HTML; images are never loaded, only described.

import { h } from "../dom.js";

// ---- parsing: any stored shape -> {messages: [{role, parts}], tools: [...]} -------------------------

/** JSON.parse when the text looks like a JSON object or array; {ok: false} otherwise. */
export function parseJSON(text) {
  if (typeof text !== "string") return { ok: true, value: text };
  const t = text.trim();
  if (!t || (t[0] !== "{" && t[0] !== "[" && t[0] !== '"')) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(t) };
  } catch {
    return { ok: false };
  }
}

const CUT = /(…\[truncated\]|\.\.\.\[cut \d+ chars\])$/;
export const CUT_MARK = "…[cut]";

/**
 * JSON cut at a size limit (the SDK's capture_max_chars, the server's ingest_max_value_bytes: the text
 * ends with their mark) made whole again: the open string ends with CUT_MARK, open arrays and objects
 * are closed. Null when the text was not cut or cannot be mended.
 */
export function mendCut(text) {
  const m = CUT.exec(text);
  if (!m) return null;
  let s = text.slice(0, m.index);
  const closers = [];
  let inString = false;
  let escaped = false;
  for (const ch of s) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "{") closers.push("}");
    else if (ch === "[") closers.push("]");
    else if (ch === "}" || ch === "]") closers.pop();
  }
  if (inString) s = s.replace(/\\(u[0-9a-fA-F]{0,3})?$/, "") + CUT_MARK + '"';
  else s = s.replace(/[\s,]*$/, "");
  const tail = closers.reverse().join("");
  for (const fill of ["", "null", ":null"]) {
    try {
      return JSON.parse(s + fill + tail);
    } catch {
      // try the next way of ending it
    }
  }
  return null;
}

/** Server-sent events ("data: {...}" lines) as a list of parsed events, or null. */
function parseSSE(text) {
  if (typeof text !== "string" || !/^\s*(data|event):/.test(text)) return null;
  const events = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^data:\s?(.*)$/.exec(line);
    if (!m || m[1] === "[DONE]") continue;
    const got = parseJSON(m[1]);
    if (got.ok) events.push(got.value);
  }
  return events.length ? events : null;
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : JSON.stringify(v));

// what the SDK and the gateway keep of inline data (privacy/inline_data.py): its size
const OMITTED = /^\[base64 omitted: (\d+) bytes\]$/;

/** Bytes a base64 text stands for. */
function base64Bytes(data) {
  if (typeof data !== "string") return null;
  const omitted = OMITTED.exec(data);
  if (omitted) return Number(omitted[1]);
  if (data.endsWith(CUT_MARK)) return -1; // cut at the size limit: its size is unknown
  const clean = data.replace(/\s/g, "");
  return Math.max(0, Math.floor((clean.length * 3) / 4) - (clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0));
}

export function sizeText(bytes) {
  if (bytes === null || bytes === undefined) return null;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A media part from a URL (a data: URL tells its type and size; another URL is named). */
function mediaFromUrl(kind, url, mime) {
  const u = typeof url === "string" ? url : isObj(url) ? url.url : "";
  const m = /^data:([^;,]+)?(;base64)?,(.*)$/s.exec(u || "");
  if (m) return { t: "media", kind, mime: m[1] || mime || "", bytes: m[2] ? base64Bytes(m[3]) : m[3].length };
  return { t: "media", kind, mime: mime || "", url: u || "" };
}

const TEXT_TYPES = new Set(["text", "input_text", "output_text", "summary_text"]);

/** One content part / block of any provider as normalized parts. */
function partsOf(content) {
  if (content === null || content === undefined || content === "") return [];
  if (typeof content === "string") return [{ t: "text", text: content }];
  if (Array.isArray(content)) return content.flatMap(partsOf);
  if (!isObj(content)) return [{ t: "text", text: String(content) }];
  const p = content;
  const type = p.type;
  if (TEXT_TYPES.has(type) || (type === undefined && typeof p.text === "string")) {
    return [{ t: "text", text: str(p.text ?? p.content) }];
  }
  switch (type) {
    case "refusal":
      return [{ t: "refusal", text: str(p.refusal ?? p.content) }];
    case "image_url":
      return [mediaFromUrl("image", p.image_url)];
    case "input_image":
      return [p.image_url ? mediaFromUrl("image", p.image_url) : { t: "media", kind: "image", mime: "", url: p.file_id ? `file ${p.file_id}` : "" }];
    case "image":
    case "document": {
      const kind = type === "image" ? "image" : "document";
      const src = p.source || {};
      if (src.type === "base64") return [{ t: "media", kind, mime: src.media_type || "", bytes: base64Bytes(src.data) }];
      if (src.type === "url") return [{ t: "media", kind, mime: src.media_type || "", url: src.url }];
      if (src.type === "text") return [{ t: "media", kind, mime: src.media_type || "text/plain", bytes: str(src.data).length }];
      if (p.image_url || p.url) return [mediaFromUrl(kind, p.image_url || p.url, p.mime_type)];
      return [{ t: "media", kind, mime: src.media_type || p.mime_type || "", bytes: base64Bytes(p.content ?? p.data) }];
    }
    case "input_audio":
      return [{ t: "media", kind: "audio", mime: p.input_audio?.format ? `audio/${p.input_audio.format}` : "audio",
        bytes: base64Bytes(p.input_audio?.data) }];
    case "file":
    case "input_file":
      return [{ t: "media", kind: "file", mime: p.file?.filename || p.filename || p.mime_type || "",
        bytes: base64Bytes(p.file?.file_data || p.file_data || p.content), url: p.file?.file_id || p.file_id || p.uri }];
    case "blob": // OTel GenAI
      return [{ t: "media", kind: p.modality || "file", mime: p.mime_type || "", bytes: base64Bytes(p.content) }];
    case "uri":
      return [{ t: "media", kind: p.modality || "file", mime: p.mime_type || "", url: p.uri }];
    case "tool_use":
    case "server_tool_use":
      return [{ t: "call", id: p.id, name: p.name, args: p.input }];
    case "tool_call": // OTel GenAI
      return [{ t: "call", id: p.id, name: p.name, args: p.arguments }];
    case "tool_result":
      return [{ t: "result", id: p.tool_use_id, content: p.content, error: !!p.is_error }];
    case "tool_call_response": // OTel GenAI
      return [{ t: "result", id: p.id, content: p.response ?? p.result }];
    case "thinking":
    case "reasoning":
      return [{ t: "thinking", text: str(p.thinking ?? p.content ?? p.text) }];
    case "redacted_thinking":
      return [{ t: "thinking", text: "(redacted by the provider)" }];
    default:
      if (typeof p.content === "string" && Object.keys(p).every((k) => ["type", "content"].includes(k))) {
        return [{ t: "text", text: p.content }];
      }
      return [{ t: "json", value: p }];
  }
}

/** An OpenAI-style tool call ({id, type, function: {name, arguments}}, or the SDK's joined {name, arguments}). */
function callOf(c) {
  const f = c.function || c;
  return { t: "call", id: c.id || c.call_id, name: f.name || c.type, args: f.arguments ?? f.input };
}

const BLOCK_TYPES = new Set(["text", "tool_use", "server_tool_use", "thinking", "redacted_thinking", "image",
  "tool_result", "document", "output_text"]);

/** One message or item (OpenAI chat, Anthropic, Responses, OTel GenAI, OpenInference) as {role, parts}. */
function messageOf(m, side) {
  if (typeof m === "string") return { role: side === "output" ? "assistant" : "user", parts: [{ t: "text", text: m }] };
  if (!isObj(m)) return { role: side === "output" ? "assistant" : "user", parts: [{ t: "json", value: m }] };
  if (isObj(m.message) && !m.role && (m.message.role || m.message.content !== undefined)) {
    return messageOf(m.message, side); // OpenInference {message: {...}}, a choice {index, message}
  }
  switch (m.type) { // Responses API items
    case "function_call":
    case "custom_tool_call":
      return { role: "assistant", parts: [{ t: "call", id: m.call_id || m.id, name: m.name, args: m.arguments ?? m.input }] };
    case "function_call_output":
    case "custom_tool_call_output":
      return { role: "tool", parts: [{ t: "result", id: m.call_id, content: m.output }] };
    case "reasoning":
      return { role: "assistant", parts: partsOf(m.summary || m.content || []).map((p) => (p.t === "text" ? { t: "thinking", text: p.text } : p)) };
    case "web_search_call":
    case "file_search_call":
    case "computer_call":
    case "code_interpreter_call":
    case "image_generation_call":
    case "mcp_call":
      return { role: "assistant", parts: [{ t: "call", id: m.id || m.call_id, name: m.name || m.type,
        args: m.action || m.queries || m.arguments || m.code || null }] };
    default:
  }
  const role = m.role || (side === "output" ? "assistant" : "user");
  let parts = [];
  if (Array.isArray(m.parts)) parts = partsOf(m.parts); // OTel GenAI
  else if (Array.isArray(m.contents)) parts = partsOf(m.contents.map((c) => c.message_content || c)); // OpenInference
  else if (role === "tool" || role === "function" || role === "ipython") {
    return { role: "tool", parts: [{ t: "result", id: m.tool_call_id || m.id, name: m.name, content: m.content }] };
  } else parts = partsOf(m.content);
  if (m.refusal) parts.push({ t: "refusal", text: str(m.refusal) });
  if (m.reasoning_content) parts.unshift({ t: "thinking", text: str(m.reasoning_content) });
  for (const c of m.tool_calls || []) parts.push(callOf(c.tool_call || c));
  if (m.function_call) parts.push(callOf({ function: m.function_call }));
  const msg = { role, parts };
  if (m.name && typeof m.name === "string") msg.name = m.name;
  if (m.finish_reason) msg.finish = m.finish_reason;
  // an Anthropic user turn holding only tool results is the tools answering
  if (role === "user" && parts.length && parts.every((p) => p.t === "result")) msg.role = "tool";
  return msg;
}

/** Stream chunks / events (OpenAI chat chunks, Anthropic events, Responses events) joined into one message. */
function joinStream(events) {
  const text = [];
  const calls = new Map();
  const blocks = new Map();
  let anthropic = false;
  for (const e of events) {
    if (!isObj(e)) continue;
    for (const choice of e.choices || []) {
      if (choice.index) continue;
      const d = choice.delta || {};
      if (d.content) text.push(d.content);
      else if (typeof choice.text === "string") text.push(choice.text);
      for (const c of d.tool_calls || []) {
        const entry = calls.get(c.index || 0) || { t: "call", id: c.id, name: "", args: "" };
        if (c.id) entry.id = c.id;
        entry.name += c.function?.name || "";
        entry.args += c.function?.arguments || "";
        calls.set(c.index || 0, entry);
      }
    }
    if (e.type === "content_block_start") {
      anthropic = true;
      const b = e.content_block || {};
      blocks.set(e.index || 0, b.type === "tool_use" ? { t: "call", id: b.id, name: b.name, args: "" }
        : { t: b.type === "thinking" ? "thinking" : "text", text: b.text || b.thinking || "" });
    } else if (e.type === "content_block_delta") {
      anthropic = true;
      const b = blocks.get(e.index || 0) || { t: "text", text: "" };
      const d = e.delta || {};
      if (d.type === "input_json_delta") b.args = (b.args || "") + (d.partial_json || "");
      else if (d.text || d.thinking) b.text = (b.text || "") + (d.text || d.thinking);
      blocks.set(e.index || 0, b);
    } else if (e.type === "response.output_text.delta") {
      text.push(e.delta || "");
    } else if (e.type === "response.output_item.done" && e.item?.type === "function_call") {
      calls.set(calls.size, { t: "call", id: e.item.call_id, name: e.item.name, args: e.item.arguments });
    }
  }
  const parts = anthropic ? [...blocks.keys()].sort((a, b) => a - b).map((k) => blocks.get(k))
    : [...(text.length ? [{ t: "text", text: text.join("") }] : []), ...[...calls.keys()].sort((a, b) => a - b).map((k) => calls.get(k))];
  return { role: "assistant", parts, streamed: events.length };
}

function isStream(list) {
  const first = list.find(isObj);
  if (!first) return false;
  return first.object === "chat.completion.chunk" || (Array.isArray(first.choices) && first.choices.some((c) => c && c.delta))
    || ["message_start", "content_block_start", "content_block_delta", "ping"].includes(first.type)
    || (typeof first.type === "string" && first.type.startsWith("response.") && first.type !== "response.completed" ? true : false);
}

/** Nested objects from OpenInference's flattened keys: "llm.input_messages.0.message.role" -> {...}. */
export function unflatten(flat) {
  const root = {};
  for (const [key, value] of Object.entries(flat)) {
    const path = key.split(".");
    let node = root;
    for (let i = 0; i < path.length; i++) {
      const k = /^\d+$/.test(path[i]) ? Number(path[i]) : path[i];
      if (i === path.length - 1) node[k] = value;
      else {
        if (node[k] === undefined) node[k] = /^\d+$/.test(path[i + 1]) ? [] : {};
        node = node[k];
      }
    }
  }
  return root;
}

const FLAT = /^llm\.(input|output)_messages\.\d+\./;

/**
 * A stored value as a conversation: {messages: [{role, parts, name?}], tools: [...], params: {...}}, or
 * {text} when it is plain text, or {json} when it is JSON of no known shape.
 */
export function toConversation(value, side = "input") {
  if (value === null || value === undefined || value === "") return { messages: [] };
  if (typeof value === "string") {
    const sse = parseSSE(value);
    if (sse) return { messages: [joinStream(sse)] };
    const got = parseJSON(value);
    if (!got.ok) {
      const mended = mendCut(value);
      if (mended === null || typeof mended !== "object") return { text: value };
      return { ...toConversation(mended, side), cut: true };
    }
    if (typeof got.value === "string") return { text: got.value };
    value = got.value;
  }
  if (Array.isArray(value)) {
    if (!value.length) return { messages: [] };
    if (value.every((v) => typeof v === "string")) {
      return { messages: value.map((v) => messageOf(v, side)) };
    }
    if (isStream(value)) return { messages: [joinStream(value)] };
    // Anthropic content blocks without a role (the SDK's output): one assistant (or user) turn
    if (value.every((v) => isObj(v) && !v.role && BLOCK_TYPES.has(v.type))) {
      return { messages: [{ role: side === "output" ? "assistant" : "user", parts: partsOf(value) }] };
    }
    return { messages: merge(value.map((v) => messageOf(v, side))) };
  }
  if (!isObj(value)) return { text: String(value) };
  const keys = Object.keys(value);
  if (keys.length && keys.some((k) => FLAT.test(k))) {
    const llm = unflatten(Object.fromEntries(keys.filter((k) => k.startsWith("llm.")).map((k) => [k, value[k]]))).llm || {};
    return { messages: [...(llm.input_messages || []), ...(llm.output_messages || [])].filter(Boolean).map((m) => messageOf(m, side)) };
  }
  const out = { messages: [], tools: toolsOf(value.tools || value.functions) };
  const system = value.system ?? value.instructions ?? value.system_instruction;
  if (system !== undefined && system !== null && system !== "") out.messages.push({ role: "system", parts: partsOf(system) });
  if (Array.isArray(value.messages)) {
    out.messages.push(...merge(value.messages.map((m) => messageOf(m, side))));
    out.params = paramsOf(value);
    return out;
  }
  if (value.input !== undefined && (value.instructions !== undefined || value.model !== undefined || keys.length === 1)) {
    const inner = toConversation(value.input, side);
    if (inner.messages) out.messages.push(...inner.messages);
    else out.messages.push({ role: "user", parts: partsOf(inner.text ?? inner.json) });
    out.params = paramsOf(value);
    return out;
  }
  if (out.messages.length) { // {system} alone
    return out;
  }
  if (Array.isArray(value.choices)) { // a chat completion (or one chunk): its first choice, others counted
    const [first, ...rest] = value.choices;
    const msg = first ? (first.message ? messageOf(first.message, "output") : isObj(first.delta) ? joinStream([value])
      : { role: "assistant", parts: partsOf(first.text) }) : { role: "assistant", parts: [] };
    if (first?.finish_reason) msg.finish = first.finish_reason;
    return { messages: [msg], more: rest.length };
  }
  if (Array.isArray(value.output)) return { messages: merge(value.output.map((m) => messageOf(m, "output"))) };
  if (typeof value.output_text === "string") return { messages: [{ role: "assistant", parts: partsOf(value.output_text) }] };
  if (Array.isArray(value.content) && (value.type === "message" || value.role)) {
    const msg = messageOf(value, side);
    if (value.stop_reason) msg.finish = value.stop_reason;
    return { messages: [msg] };
  }
  if (value.role && (value.content !== undefined || value.tool_calls || value.parts)) return { messages: [messageOf(value, side)] };
  if (value.prompt !== undefined) return { messages: [{ role: "user", parts: partsOf(value.prompt) }], params: paramsOf(value) };
  return { json: value };
}

/** Consecutive Responses items of one role (a message, then its function calls) shown as one turn. */
function merge(messages) {
  const out = [];
  for (const m of messages) {
    const last = out[out.length - 1];
    if (last && last.role === m.role && m.role === "assistant" && !m.name && !last.name
      && m.parts.every((p) => p.t === "call") && last.parts.length) {
      last.parts.push(...m.parts);
    } else out.push(m);
  }
  return out;
}

function toolsOf(tools) {
  if (!Array.isArray(tools) || !tools.length) return [];
  return tools.filter(isObj).map((t) => {
    const f = t.function || t;
    return { name: f.name || t.type || "tool", description: f.description || "", schema: f.parameters || f.input_schema || null };
  });
}

const PARAMS = ["model", "temperature", "max_tokens", "max_completion_tokens", "max_output_tokens", "top_p", "stream",
  "tool_choice", "response_format", "reasoning_effort", "seed", "stop"];

function paramsOf(v) {
  const out = {};
  for (const k of PARAMS) if (v[k] !== undefined && v[k] !== null) out[k] = v[k];
  return out;
}

// ---- rendering --------------------------------------------------------------------------------------

const ROLE_LABEL = { system: "System", developer: "Developer", user: "User", assistant: "Assistant", tool: "Tool",
  model: "Assistant" };

/** Pretty JSON text of a value (a string holding JSON is parsed first). */
export function pretty(value) {
  if (typeof value === "string") {
    const got = parseJSON(value);
    return got.ok && typeof got.value !== "string" ? JSON.stringify(got.value, null, 2) : value;
  }
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

function mediaText(p) {
  if (p.bytes === -1) return `[${p.kind}${p.mime ? ": " + p.mime : ""}, cut at the size limit]`;
  const what = [p.mime || null, p.bytes !== undefined && p.bytes !== null ? sizeText(p.bytes) : null,
    !p.bytes && p.url ? (p.url.length > 80 ? p.url.slice(0, 77) + "…" : p.url) : null].filter(Boolean);
  return `[${p.kind}${what.length ? ": " + what.join(", ") : ""}]`;
}

function partNode(p, names) {
  switch (p.t) {
    case "text":
      return h("pre", { class: "conv-text", testid: "conv-text" }, p.text === "" ? "(empty)" : p.text);
    case "refusal":
      return h("pre", { class: "conv-text conv-refusal", testid: "conv-refusal" }, `refused: ${p.text}`);
    case "thinking":
      return h("details", { class: "conv-thinking" }, h("summary", {}, "reasoning"), h("pre", { class: "conv-text" }, p.text));
    case "media":
      return h("div", { class: "conv-media", testid: "conv-media" }, mediaText(p));
    case "call":
      return h("div", { class: "conv-call", testid: "conv-tool-call" },
        h("div", { class: "conv-call-head" }, h("span", { class: "conv-arrow" }, "→"), " calls ",
          h("b", { testid: "conv-tool-name" }, p.name || "a tool"), p.id ? h("code", { class: "conv-id" }, p.id) : null),
        h("div", { class: "conv-sub" }, "arguments"),
        h("pre", { class: "conv-json", testid: "conv-tool-args" }, p.args === undefined || p.args === null || p.args === "" ? "(none)" : pretty(p.args)));
    case "result": {
      const name = p.name || (p.id && names.get(p.id));
      const inner = typeof p.content === "string" || p.content === undefined || p.content === null
        ? h("pre", { class: "conv-json", testid: "conv-tool-result-text" }, p.content ? pretty(p.content) : "(empty)")
        : h("div", {}, partsOf(p.content).map((q) => (q.t === "text" ? h("pre", { class: "conv-json", testid: "conv-tool-result-text" }, pretty(q.text)) : partNode(q, names))));
      return h("div", { class: `conv-result${p.error ? " conv-result-error" : ""}`, testid: "conv-tool-result" },
        h("div", { class: "conv-call-head" }, h("span", { class: "conv-arrow" }, "←"), p.error ? " error from " : " result of ",
          h("b", {}, name || "a tool call"), p.id ? h("code", { class: "conv-id" }, p.id) : null),
        inner);
    }
    default:
      return h("pre", { class: "conv-json" }, pretty(p.value));
  }
}

function messageNode(m, names, out) {
  const role = ROLE_LABEL[m.role] || m.role;
  const calls = m.parts.filter((p) => p.t === "call").length;
  return h("div", { class: `conv-msg conv-${/^[a-z]+$/.test(m.role) ? m.role : "other"}${out ? " conv-out" : ""}`,
    testid: "conv-message", dataset: { role: m.role } },
  h("div", { class: "conv-role", testid: "conv-role" }, role, m.name ? h("span", { class: "conv-name" }, ` · ${m.name}`) : null,
    out ? h("span", { class: "conv-tag" }, "response") : null,
    m.streamed ? h("span", { class: "conv-tag", testid: "conv-streamed", title: "the streamed chunks, joined" },
      m.streamed === true ? "streamed, joined" : `streamed, ${m.streamed} chunks joined`) : null,
    calls ? h("span", { class: "conv-tag" }, calls === 1 ? "1 tool call" : `${calls} tool calls`) : null,
    m.finish && m.finish !== "stop" && m.finish !== "end_turn" ? h("span", { class: "conv-tag" }, `finish: ${m.finish}`) : null),
  m.parts.length ? m.parts.map((p) => partNode(p, names)) : h("pre", { class: "conv-text muted" }, "(empty)"));
}

function toolsNode(tools) {
  if (!tools || !tools.length) return null;
  return h("details", { class: "conv-tools", testid: "conv-tools" },
    h("summary", {}, `${tools.length === 1 ? "1 tool" : tools.length + " tools"} offered: ${tools.map((t) => t.name).join(", ")}`),
    tools.map((t) => h("div", { class: "conv-tool-def" }, h("b", {}, t.name), t.description ? ` — ${t.description}` : "",
      t.schema ? h("pre", { class: "conv-json" }, pretty(t.schema)) : null)));
}

/** What a block shows: the text, the JSON, or (a shape read as messages) the stored text pretty-printed. */
function plain(conv, raw) {
  if (conv.text !== undefined || conv.json !== undefined) return conv;
  return { text: raw ? pretty(raw) : "(empty)" };
}

/** Text or JSON of no known shape, under a label ("Arguments", "Result", "Prompt" ...). */
function block(label, conv, raw, cls, testid) {
  const body = conv.text !== undefined ? h("pre", { class: "conv-text", testid }, conv.text)
    : conv.json !== undefined ? h("pre", { class: "conv-json", testid }, pretty(conv.json))
      : h("pre", { class: "conv-text", testid }, raw || "(empty)");
  return h("div", { class: `msg ${cls}`, testid: testid + "-block" }, h("div", { class: "msg-label", testid: testid + "-label" }, label), body);
}

const LABELS = {
  llm: ["Prompt", "Response"], embedding: ["Input", "Embedding"], tool: ["Arguments", "Result"],
  retrieval: ["Query", "Documents"],
};

/**
 * The view of one span's captured content: a conversation (LLM calls and anything holding messages)
 * or labelled blocks (tool arguments and result ...), with a Conversation | Raw JSON switch.
 * `c` is {input, output, captured_reason}; `span` the span row.
 */
export function contentView(c, span) {
  const kind = span.kind || "other";
  const [inLabel, outLabel] = LABELS[kind] || ["Input", "Output"];
  const input = toConversation(c.input, "input");
  const output = toConversation(c.output, "output");
  const chat = (x) => x.messages && x.messages.length;
  const asChat = kind === "llm" || kind === "embedding" ? (chat(input) || chat(output)) : (chat(input) && input.messages.some((m) => m.role !== "user"));
  let readable;
  if (span.streamed && chat(output) && !output.messages[0].streamed) output.messages[0].streamed = true;
  if (asChat) {
    const names = new Map();
    for (const m of [...(input.messages || []), ...(output.messages || [])]) {
      for (const p of m.parts) if (p.t === "call" && p.id) names.set(p.id, p.name);
    }
    const failed = span.status === "error";
    readable = h("div", { class: "conv", testid: "conversation" },
      toolsNode(input.tools),
      chat(input) ? input.messages.map((m) => messageNode(m, names, false))
        : c.input ? block(inLabel, input, c.input, "msg-in", "content-input") : null,
      chat(output) ? output.messages.map((m) => messageNode(m, names, true))
        : c.output ? block(outLabel, output, c.output, "msg-out", "content-output")
          : h("p", { class: "muted small", testid: "conv-no-output" }, failed ? "No response: the call failed." : "No response was captured."),
      output.more ? h("p", { class: "muted small" }, `+ ${output.more} more choices (see the raw JSON)`) : null,
      truncatedNote(c));
  } else {
    readable = h("div", { class: "content-blocks" },
      block(inLabel, plain(input, c.input), c.input, "msg-in", "content-input"),
      block(outLabel, plain(output, c.output), c.output, "msg-out", "content-output"),
      truncatedNote(c));
  }
  const raw = h("div", { class: "conv-raw", testid: "content-raw", hidden: true },
    h("div", { class: "msg msg-in" }, h("div", { class: "msg-label" }, `${inLabel} (as stored)`),
      h("pre", { class: "conv-json", testid: "raw-input" }, c.input ? pretty(c.input) : "(empty)")),
    h("div", { class: "msg msg-out" }, h("div", { class: "msg-label" }, `${outLabel} (as stored)`),
      h("pre", { class: "conv-json", testid: "raw-output" }, c.output ? pretty(c.output) : "(empty)")));
  const views = [["Readable", readable], ["Raw JSON", raw]];
  const buttons = views.map(([label, node], i) => h("button", { type: "button", class: i === 0 ? "active" : null,
    testid: i === 0 ? "view-readable" : "view-raw",
    onclick: (e) => {
      views.forEach(([, n]) => { n.hidden = n !== node; });
      buttons.forEach((b) => b.classList.toggle("active", b === e.currentTarget));
    } }, label));
  return h("div", { class: "content", testid: "span-content" },
    h("div", { class: "content-head" }, h("div", { class: "segmented small" }, buttons),
      c.captured_reason ? h("span", { class: "muted small", testid: "captured-reason", title: `captured_reason: ${c.captured_reason}` },
        `kept: ${reasonText(c.captured_reason)}`) : null),
    readable, raw);
}

function truncatedNote(c) {
  const cut = [c.input, c.output].some((t) => typeof t === "string" && CUT.test(t));
  return cut ? h("p", { class: "muted small", testid: "content-truncated" },
    `This content was cut at the size limit (the SDK's capture_max_chars, the server's ingest_max_value_bytes): `
    + `what follows ${CUT_MARK} is missing.`) : null;
}

const REASONS = {
  error: "the call failed (failed calls are always kept)", flagged: "the app flagged this call",
  sampled: "in the capture policy's random sample", always: "the policy keeps every call",
  "route-override": "this route's capture rule", "project-override": "this project's capture rule",
  log_events: "sent as OTel log events", anomaly: "an anomaly marked this trace", "eval-failed": "a failed eval marked it",
};

export function reasonText(reason) {
  return REASONS[reason] || reason;
}
