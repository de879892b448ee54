import { api, ApiError } from './api.js';
import { h, mount } from './dom.js';
import type { Session } from './session.js';
import type { Role, SiteInfo } from './types.js';

/**
 * A sign-in form for `roles`; resolves with the session once the server accepted it. A user of another
 * role gets a message naming the page to use instead.
 */
export function showLogin(main: HTMLElement, opts: { title: string; roles: Role[]; hint: string }): Promise<Session> {
  return new Promise((resolve) => {
    const email = h('input', { id: 'login-email', type: 'email', name: 'email', autocomplete: 'username', required: true });
    const password = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const error = h('p', { id: 'login-error', class: 'error', role: 'alert' });
    const demo = h('p', { class: 'notice', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
    const form = h(
      'form',
      { class: 'card login', novalidate: true },
      h('h1', {}, opts.title),
      h('p', { class: 'muted' }, opts.hint),
      demo,
      h('div', { class: 'field' }, h('label', { for: 'login-email' }, 'E-mail'), email),
      h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
      error,
      submit,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      if (!email.value.trim() || !password.value) {
        error.textContent = 'Enter your e-mail and password.';
        return;
      }
      submit.disabled = true;
      api<Session>('/api/auth/login', { body: { email: email.value.trim(), password: password.value } })
        .then((session) => {
          if (!opts.roles.includes(session.user.role)) {
            const where = session.user.role === 'student' ? 'the student page (/student)' : 'the invigilator console (/invigilator)';
            throw new ApiError('WRONG_PAGE', `This account is a ${session.user.role} account: sign in on ${where}.`);
          }
          resolve(session);
        })
        .catch((err: unknown) => {
          error.textContent = err instanceof Error ? err.message : String(err);
          submit.disabled = false;
          password.focus();
        });
    });
    mount(main, form);
    email.focus();
    // In the demo, say which account to use here (the server says whether this is a demo).
    api<SiteInfo>('/api/site')
      .then((site) => {
        const accounts = site.demo?.accounts ?? [];
        const account = opts.roles.map((r) => accounts.find((a) => a.role === r)).find((a) => a !== undefined);
        if (!site.demo || !account) return;
        demo.textContent = `Demo: sign in as ${account.email.split(' ')[0]} with the password ${site.demo.password}.`;
        demo.hidden = false;
      })
      .catch(() => undefined);
  });
}
