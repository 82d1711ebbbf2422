// The XMPP page's Upload button: a picked file goes to the gateway (`sc.upload`, XMPP HTTP
// upload, XEP-0363), then a message carrying its link goes to the open window (a link
// message, XEP-0066: docs/xmpp.md "Uploads"). The page never talks to the upload server.
import { page, roomTarget, status, entry, problem } from '/static/xmpp-view.js';

const { $ } = globalThis.Examples;

export function wireUpload(sc) {
  const input = $('upload-file');
  $('upload').addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const file = input.files && input.files[0];
    input.value = ''; // the same file may be picked again
    const c = page.convs.get(page.current);
    if (!file) return;
    if (!c || c.kind === 'status' || !page.conn || page.conn.state !== 'connected') {
      problem(status(), 'Upload', new Error('connect, then open a chat or a room first'));
      return;
    }
    const target = c.kind === 'room' ? roomTarget(c) : { id: c.jid, type: 'person' };
    const li = entry(c, 'message', { from: page.conn.nick, text: `${file.name}: uploading`,
                                     data: { own: 'true', status: 'sending', upload: 'true' } });
    const text = li.querySelector('.text');
    const onProgress = (sent, total) => { text.textContent = `${file.name}: ${Math.floor((100 * sent) / total)} %`; };
    try {
      const done = await sc.upload(file, { platform: 'xmpp', actor: page.conn.actor, target, onProgress });
      if (c.kind === 'room') { li.remove(); return; } // the room reflects the message: that line shows it
      text.textContent = done.url;
      li.dataset.status = 'completed';
      li.dataset.id = done.message.object.id;
    } catch (err) {
      li.dataset.status = 'failed';
      problem(c, 'Upload failed', err);
    }
  });
}
