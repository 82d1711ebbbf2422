// A Socket.IO client for the Python tests: the real socket.io-client 4, driven line by line.
//
// argv: url path transports(comma-separated, first one used first) [upgrade:true|false]
// stdin, one JSON object a line:
//   {"op":"emit","id":N,"event":E,"args":[...],"ack":true|false}  -> {"type":"ack","id":N,"data":...}
//   {"op":"drop"}        the transport fails under the client (it reconnects by itself, as on
//                        a network drop: a new Socket.IO id, the SDK then replays)
//   {"op":"close"}       disconnect and exit
// stdout, one JSON object a line: {"type":"connect","id":sid,"transport":T},
//   {"type":"disconnect","reason":R}, {"type":"connect_error","message":M},
//   {"type":"event","event":E,"args":[...]}, the acks above.
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

const [url, path, transports, upgrade] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  path: path || "/sockethub",
  transports: (transports || "polling,websocket").split(","),
  upgrade: upgrade !== "false",
  reconnectionDelay: 200,
  reconnectionDelayMax: 500,
  // SIO_INSECURE=1: the tests' self-signed certificate (HAProxy in front, over TLS)
  rejectUnauthorized: process.env.SIO_INSECURE !== "1",
});

socket.on("connect", () => out({ type: "connect", id: socket.id, transport: socket.io.engine.transport.name }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.on("connect_error", (err) => out({ type: "connect_error", message: String(err && err.message) }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));
socket.io.engine && socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (t) => out({ type: "upgrade", transport: t.name }));
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  if (cmd.op === "emit") {
    const args = cmd.args || [];
    if (cmd.ack) {
      socket.emit(cmd.event, ...args, (data) => out({ type: "ack", id: cmd.id, data }));
    } else {
      socket.emit(cmd.event, ...args);
    }
  } else if (cmd.op === "drop") {
    socket.io.engine.close(); // the Manager sees "transport close" and reconnects
  } else if (cmd.op === "close") {
    socket.disconnect();
    setTimeout(() => process.exit(0), 200); // let the DISCONNECT packet go out
  }
});
rl.on("close", () => process.exit(0));
