import { api } from './lib/api.js';
import { byId, h } from './lib/dom.js';
import type { SiteInfo } from './lib/types.js';

/** In the demo, list the demo accounts (the server says whether this is a demo: GET /api/site). */
async function showDemoLogins(): Promise<void> {
  const { demo } = await api<SiteInfo>('/api/site');
  if (!demo) return;
  byId('demo-password').textContent = demo.password;
  byId('demo-logins').replaceChildren(
    ...demo.accounts.map((a) => h('li', {}, h('code', {}, a.email), ' ', h('span', { class: 'muted' }, `— ${a.note}`))),
  );
  byId('demo').hidden = false;
}

showDemoLogins().catch(() => {
  // The landing page works without the demo list.
});
