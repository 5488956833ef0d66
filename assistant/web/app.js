// The kiosk page: microphone -> WebSocket -> the server's conversation engine -> Web Audio.
"use strict";

const $ = (id) => document.getElementById(id);
const LABELS = {
  idle: "Tap to start", connecting: "Connecting…", waiting: "Waiting", listening: "Listening",
  thinking: "Thinking", speaking: "Speaking", paused: "Paused", muted: "Muted",
};
// a thumb (Material Design icon "thumb_up", Apache-2.0); turned over for "down"
const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06"
  + "L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05"
  + "c.09-.23.14-.47.14-.73v-2z";
// this browser's own wake word and language, sent to the server at each start
const REMEMBERED = { wake_word: "assistant-wake-word", language: "assistant-language" };
const REPORT_MS = 100;  // how often the page tells the server how much it has played
const BLOCK_SECONDS = 0.02;

const session = {
  socket: null, context: null, stream: null, capture: null,
  epoch: 0, sources: [], nextStart: 0, receivedSeconds: 0,
  muted: false, state: "idle", reply: null, reportTimer: 0, wakeWord: "",
};
window.assistantSession = session;  // read by the end-to-end tests

const params = new URLSearchParams(location.search);
let apiKey = params.get("key") || localStorage.getItem("assistant-api-key") || "";

function setState(state) {
  session.state = state;
  $("app").dataset.state = state;
  const waiting = state === "waiting" && session.wakeWord;
  $("state-label").textContent = waiting ? `Say “${session.wakeWord}”` : LABELS[state] || state;
  $("wake").hidden = !waiting;
  $("wake").textContent = waiting ? `Waiting for “${session.wakeWord}”` : "";
  const live = state !== "idle" && state !== "connecting";
  $("start").disabled = live || state === "connecting";
  for (const id of ["pause", "mute", "interrupt", "new", "end"]) $(id).disabled = !live;
  $("pause").textContent = state === "paused" ? "Resume" : "Pause";
  $("mute").textContent = session.muted ? "Unmute" : "Mute";
  $("interrupt").disabled = state !== "speaking" && state !== "thinking";
  for (const id of ["voice", "wake-word", "language"]) $(id).disabled = !live;
}

function notice(text) { $("notice").textContent = text; }

function addLine(role, text) {
  const line = document.createElement("p");
  line.className = `line ${role}`;
  line.textContent = text;
  $("transcript").append(line);
  showLatest();
  return line;
}

function showLatest() {  // scrolls the transcript only, never the page
  const transcript = $("transcript");
  transcript.scrollTop = transcript.scrollHeight;
}

// The transcript shrinks when the timers panel grows or the screen turns: unless the reader has
// scrolled back, the latest line stays in view.
let followingLatest = true;
$("transcript").addEventListener("scroll", () => {
  const transcript = $("transcript");
  followingLatest = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
});
new ResizeObserver(() => { if (followingLatest) showLatest(); }).observe($("transcript"));

function addRating(line, turnId) {
  const group = document.createElement("span");
  group.className = "rate";
  for (const [rating, label] of [["up", "Good answer"], ["down", "Bad answer"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = rating;
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", "false");
    button.innerHTML = `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${THUMB}"/></svg>`;
    button.addEventListener("click", () => sendRating(group, button, turnId, rating));
    group.append(button);
  }
  line.append(group);
  showLatest();
}

async function sendRating(group, chosen, turnId, rating) {
  try {
    await api(`/v1/history/turns/${turnId}/feedback`, { method: "POST", body: { rating } });
    for (const button of group.children) button.setAttribute("aria-pressed", String(button === chosen));
  } catch (error) {
    notice(`The rating was not saved: ${error.message}`);
  }
}

function send(message) {
  if (session.socket && session.socket.readyState === WebSocket.OPEN) {
    session.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }
}

// --- starting and ending ---------------------------------------------------------------------

async function start() {
  setState("connecting");
  notice("");
  session.context = new AudioContext({ latencyHint: "interactive" });
  await session.context.resume();
  const opened = connect();
  try {
    await startMicrophone();
  } catch (error) {
    notice(`The microphone is not available (${error.message}). Type your messages instead.`);
    $("text-form").hidden = false;
    $("text-input").focus();
  }
  await opened;
}

async function startMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("this browser cannot record here; use https or localhost");
  }
  session.stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  const context = session.context;
  await context.audioWorklet.addModule("/static/capture-worklet.js");
  const source = context.createMediaStreamSource(session.stream);
  session.capture = new AudioWorkletNode(context, "capture", {
    processorOptions: { blockSamples: Math.round(context.sampleRate * BLOCK_SECONDS) },
  });
  session.capture.port.onmessage = (event) => sendAudio(event.data);
  const silent = context.createGain();
  silent.gain.value = 0;  // keeps the capture node running without playing the microphone
  source.connect(session.capture).connect(silent).connect(context.destination);
  $("text-form").hidden = true;
}

function connect() {
  return new Promise((resolve) => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = apiKey ? `?access_token=${encodeURIComponent(apiKey)}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/v1/session${query}`);
    socket.binaryType = "arraybuffer";
    session.socket = socket;
    socket.onopen = () => {
      send({ type: "hello", sample_rate: session.context.sampleRate });
      session.reportTimer = setInterval(reportPlayed, REPORT_MS);
      resolve();
    };
    socket.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) play(event.data);
      else receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      clearInterval(session.reportTimer);
      if (session.socket !== socket) return;
      stopAll();
      if (event.code === 1008) {
        askForKey();
      } else if (event.code !== 1000) {
        notice("The connection to the assistant was lost. Tap to start again.");
      }
      resolve();
    };
  });
}

function askForKey() {
  const entered = window.prompt("This assistant needs its API key:");
  if (entered) {
    apiKey = entered.trim();
    localStorage.setItem("assistant-api-key", apiKey);
    start();
  } else {
    notice("An API key is needed to talk to this assistant.");
  }
}

function end() {
  const socket = session.socket;
  session.socket = null;
  if (socket) socket.close(1000, "conversation ended");
  stopAll();
  notice("Conversation ended.");
}

function stopAll() {
  clearInterval(session.reportTimer);
  stopPlayback();
  if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
  if (session.context) session.context.close();
  Object.assign(session, { stream: null, capture: null, context: null, socket: null, muted: false });
  setState("idle");
}

// --- audio in and out ------------------------------------------------------------------------

function sendAudio(block) {
  if (session.muted || !session.socket || session.socket.readyState !== WebSocket.OPEN) return;
  const pcm = new Int16Array(block.length);
  for (let i = 0; i < block.length; i++) {
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round(block[i] * 32767)));
  }
  session.socket.send(pcm.buffer);
}

function play(buffer) {
  const header = new DataView(buffer, 0, 8);
  const rate = header.getUint32(0, true);
  const epoch = header.getUint32(4, true);
  if (epoch !== session.epoch || !session.context) return;  // cut off by an interruption
  const samples = new Int16Array(buffer, 8);
  if (!samples.length) return;
  const audio = session.context.createBuffer(1, samples.length, rate);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = session.context.createBufferSource();
  source.buffer = audio;
  source.connect(session.context.destination);
  const startAt = Math.max(session.context.currentTime + 0.03, session.nextStart);
  source.start(startAt);
  session.nextStart = startAt + audio.duration;
  session.sources.push({ source, startAt, duration: audio.duration });
  session.receivedSeconds += audio.duration;
}

function playedSeconds() {
  const now = session.context ? session.context.currentTime : 0;
  return session.sources.reduce(
    (total, item) => total + Math.min(Math.max(now - item.startAt, 0), item.duration), 0);
}

function reportPlayed() {
  if (session.sources.length) send({ type: "played", epoch: session.epoch, seconds: playedSeconds() });
}

function stopPlayback() {
  for (const item of session.sources) {
    try { item.source.stop(); } catch (error) { /* already ended */ }
  }
  session.sources = [];
  session.nextStart = 0;
}

// --- messages from the server ----------------------------------------------------------------

function receive(message) {
  switch (message.type) {
    case "ready":
      fillVoices(message.voices, message.voice, message.voice_labels || {});
      fillSettings(message);
      session.wakeWord = message.wake_word || "";
      setState(message.state);
      restoreSettings();
      break;
    case "settings":  // the session's wake word and language now
      $("wake-word").value = message.wake_word;
      $("language").value = message.language;
      session.wakeWord = message.wake_phrase || "";
      setState(session.state);
      break;
    case "state":
      setState(message.state);
      break;
    case "user":
      addLine("user", message.text);
      session.reply = null;
      break;
    case "assistant":
      if (!session.reply) session.reply = addLine("assistant", "");
      session.reply.textContent = `${session.reply.textContent} ${message.text}`.trim();
      showLatest();
      break;
    case "turn":
      if (message.interrupted && session.reply) {
        session.reply.textContent = message.spoken || "…";
        session.reply.classList.add("interrupted");
      }
      if (session.reply && message.turn_id) addRating(session.reply, message.turn_id);
      session.reply = null;
      break;
    case "reset":
      $("transcript").replaceChildren();
      session.reply = null;
      break;
    case "clear":
      stopPlayback();
      session.epoch = message.epoch;
      break;
    case "pause":
      if (session.context) session.context.suspend();
      break;
    case "resume":
      if (session.context) session.context.resume();
      break;
    case "notice":
    case "error":
      notice(message.message);
      break;
    case "announcement": // a timer or alarm rang: timers.js shows it
      document.dispatchEvent(new CustomEvent("assistant-announcement", { detail: message.text }));
      break;
  }
}

function fillVoices(voices, current, labels) {
  const select = $("voice");
  select.replaceChildren(
    ...voices.map((voice) => new Option(labels[voice] || voice, voice, false, voice === current)),
  );
}

function fillSettings(ready) {
  const words = ready.wake_words || [];
  const current = words.find((word) => word.phrase === ready.wake_word);
  $("wake-word").replaceChildren(new Option("Off", "off"),
    ...words.map((word) => new Option(word.phrase, word.name)));
  $("wake-word").value = current ? current.name : "off";
  $("language").replaceChildren(...(ready.languages || ["auto"]).map(
    (code) => new Option(languageName(code), code)));
  $("language").value = ready.language || "auto";
}

function languageName(code) {  // in its own language: "English", "中文"
  if (code === "auto") return "As spoken";
  try { return new Intl.DisplayNames([code], { type: "language" }).of(code); } catch (error) { return code; }
}

function restoreSettings() {  // what this browser chose last time, when the server still offers it
  const changes = {};
  for (const [key, storageKey] of Object.entries(REMEMBERED)) {
    const wanted = localStorage.getItem(storageKey);
    const select = $(key === "wake_word" ? "wake-word" : "language");
    const offered = [...select.options].some((option) => option.value === wanted);
    if (wanted && offered && wanted !== select.value) changes[key] = wanted;
  }
  if (Object.keys(changes).length) send({ type: "settings", ...changes });
}

function chooseSetting(key, value) {
  localStorage.setItem(REMEMBERED[key], value);
  send({ type: "settings", [key]: value });
}

// --- controls --------------------------------------------------------------------------------

function control(action) { send({ type: "control", action }); }

$("start").addEventListener("click", start);
$("end").addEventListener("click", end);
$("pause").addEventListener("click", () => control(session.state === "paused" ? "resume" : "pause"));
$("mute").addEventListener("click", () => {
  session.muted = !session.muted;
  control(session.muted ? "mute" : "unmute");
  setState(session.state);
});
$("interrupt").addEventListener("click", () => control("interrupt"));
$("new").addEventListener("click", () => control("new"));
$("voice").addEventListener("change", (event) => send({ type: "voice", voice: event.target.value }));
$("wake-word").addEventListener("change", (event) => chooseSetting("wake_word", event.target.value));
$("language").addEventListener("change", (event) => chooseSetting("language", event.target.value));
$("orb").addEventListener("click", () => {
  if (session.state === "idle") start();
  else if (session.state === "speaking" || session.state === "thinking") control("interrupt");
  else if (session.state === "paused") control("resume");
});
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text-input").value.trim();
  if (!text) return;
  if (!session.socket) {
    notice("Tap Start first.");
    return;
  }
  send({ type: "text", text });
  $("text-input").value = "";
});
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || session.state === "idle") return;
  const keys = { p: () => $("pause").click(), m: () => $("mute").click(), s: () => control("interrupt"),
                 " ": () => control("interrupt"), n: () => control("new") };
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
});

// --- the history API: past conversations, ratings -------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error((answer.error && answer.error.message) || response.statusText);
  return answer;
}

async function openHistory() {
  $("history").hidden = false;
  $("history-view").replaceChildren();
  const list = $("history-list");
  list.replaceChildren();
  try {
    const { data } = await api("/v1/history/conversations?limit=50");
    if (!data.length) list.append(Object.assign(document.createElement("li"), { textContent: "Nothing yet." }));
    for (const conversation of data) {
      const button = document.createElement("button");
      const when = new Date(conversation.updated_at * 1000).toLocaleString();
      button.textContent = `${when} — ${conversation.title || "Conversation " + conversation.id} (${conversation.turns} turns)`;
      button.addEventListener("click", () => showConversation(conversation.id));
      const item = document.createElement("li");
      item.append(button);
      list.append(item);
    }
  } catch (error) {
    list.append(Object.assign(document.createElement("li"), { textContent: `History is not available: ${error.message}` }));
  }
}

async function showConversation(id) {
  const view = $("history-view");
  view.replaceChildren();
  const conversation = await api(`/v1/history/conversations/${id}`);
  for (const turn of conversation.turns) {
    const line = document.createElement("p");
    line.className = `line ${turn.role}${turn.interrupted ? " interrupted" : ""}`;
    line.textContent = turn.text;
    view.append(line);
  }
}

$("history-open").addEventListener("click", openHistory);
$("history-close").addEventListener("click", () => { $("history").hidden = true; });

setState("idle");
if (params.get("autostart") === "1") start();
