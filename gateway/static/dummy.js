// The dummy example page: one request per button, each reply logged. The client is a
// classic script that also loads as a module; it publishes itself on globalThis.
//
// After a reload the client resumes this page's session and the gateway replays its
// stream: the replies to the page before come as `reply` events (no promise waits for
// them) and go back into the log, so the log survives the reload.
import '/static/sockethub-client.js';
const { SockethubClient } = globalThis;
const { $, startClient, showState, textElement, logLine } = globalThis.Examples;

const log = $('log');
const sc = startClient({ storageName: 'dummy' });

function entry(cls, tag, text, data = {}) {
  // never innerHTML: the content comes from the network
  const parts = [textElement('span', 'tag', tag), textElement('span', 'text', text)];
  const li = logLine(cls, { data, parts });
  log.prepend(li);
  return li;
}

sc.on('connection', (info) => {
  showState($('state'), info.state);
  let text = info.state;
  if (info.state === 'closed') text += ` (code ${info.code}${info.willReconnect ? `, retrying in ${info.delayMs} ms` : ''})`;
  if (info.state === 'new-session' && info.resumeError) {
    text += ` (${SockethubClient.describeError(info.resumeError)})`;
  }
  entry('connection', 'connection', text, { state: info.state });
});

sc.on('message', (activity) => {
  const content = activity.object && activity.object.content;
  entry('event', activity.type || 'event', content || JSON.stringify(activity), { kind: 'event', verb: activity.type });
});

function logReply(verb, reply) {
  const text = (reply && reply.object && reply.object.content) ?? JSON.stringify(reply);
  entry('completed', `${verb}: completed`, text, { kind: 'reply', status: 'completed', verb });
}

function logFailure(verb, err) {
  // code: what kind of failure (decide on retrying by it, or by err.retryable);
  // condition: what the platform itself said, when it said something.
  const said = err.condition ? ` / ${err.condition}` : '';
  const again = err.retryable ? ', may work if sent again' : '';
  entry('failed', `${verb}: failed [${err.code}${said}${again}]`, err.message,
    { kind: 'reply', status: 'failed', verb, code: err.code, condition: err.condition || '', retryable: String(err.retryable) });
}

sc.on('reply', (frame) => {
  if (frame.status === 'completed') {
    logReply((frame.result && frame.result.type) || 'request', frame.result);
  } else {
    const e = frame.error || {};
    logFailure((frame.activity && frame.activity.type) || 'request', new SockethubClient.SockethubError(e.code, e.message, e));
  }
});

async function run(verb) {
  const actor = $('actor').value.trim() || 'me';
  const content = $('content').value;
  try {
    const result = await sc.send({
      platform: 'dummy',
      type: verb,
      actor: { id: actor, type: 'person' },
      object: { type: 'message', content },
    });
    logReply(verb, result);
  } catch (err) {
    logFailure(verb, err);
  }
}

$('form').addEventListener('submit', (ev) => { ev.preventDefault(); run('echo'); });
for (const id of ['greet', 'fail', 'throw']) $(id).addEventListener('click', () => run(id));
$('clear').addEventListener('click', () => { log.textContent = ''; });
