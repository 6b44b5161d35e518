// Agents for a load test against a real switch: logs agents FIRST..LAST in to kefu over
// /ws/agent (docs/agent-protocol.md) and keeps them available. Nothing else is needed: the
// agent's phone (sipp's agent.xml) answering accepts each offer, and wrap-up ends by itself
// after kefu's [acd] wrap_up. Prints the offers and errors seen every 10 s and on Ctrl-C.
//
//   node loadtest/sipp/agents.mjs ws://KEFU:8080 1001 1200 PASSWORD
//
// Node 22 or later (Node 20: add --experimental-websocket before the file name).

const [url, first, last, password] = process.argv.slice(2);
if (!password) {
  console.error("usage: node agents.mjs ws://KEFU:8080 FIRST LAST PASSWORD");
  process.exit(64);
}
const seen = { available: 0, offers: 0, errors: 0 };
const errors = new Map();

function agent(id) {
  const ws = new WebSocket(`${url}/ws/agent`);
  ws.onopen = () => ws.send(JSON.stringify({ type: "login", agent: id, password }));
  ws.onmessage = (message) => {
    const msg = JSON.parse(message.data);
    if (msg.type === "welcome") {
      ws.send(JSON.stringify({ type: "set_state", state: "available" }));
      seen.available += 1;
    } else if (msg.type === "offer") {
      seen.offers += 1;
    } else if (msg.type === "error") {
      seen.errors += 1;
      errors.set(msg.code, msg.message);
    }
  };
  // 4001: wrong password or too many attempts; 4008: replaced by another session, or too
  // slow a reader. Anything else (kefu restarting) reconnects.
  ws.onclose = (event) => {
    if (event.code === 4001 || event.code === 4008) {
      console.error(`agent ${id}: closed ${event.code} ${event.reason}`);
    } else {
      setTimeout(() => agent(id), 1000);
    }
  };
}

function report() {
  const samples = [...errors].map(([code, text]) => `${code}: ${text}`).join("; ");
  console.log(`logins ${seen.available}, offers ${seen.offers}, errors ${seen.errors} ${samples}`);
}

for (let id = Number(first); id <= Number(last); id++) agent(String(id));
setInterval(report, 10_000);
process.on("SIGINT", () => {
  report();
  process.exit(0);
});
