// Sign-in for the desk and the chat page: a token from the URL fragment
// (#token=…, as the dev page links), a remembered one, the development sign-in
// (PGCHAT_DEV=1 servers), or one pasted by hand.
import { h } from '/client/ui.js';
import { claimsOf, devToken } from '/client/pgchat.js';

const valid = (token) => token && (claimsOf(token).exp || 0) - Date.now() / 1000 > 30;

/** Resolves with {token, getToken} once signed in. */
export async function signIn({ key, role, root, title }) {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    localStorage.setItem(key, fromHash);
    localStorage.removeItem(key + ':dev');
    history.replaceState(null, '', location.pathname + location.search);
  }
  const dev = JSON.parse(localStorage.getItem(key + ':dev') || 'null');
  const getToken = dev
    ? async () => {
        const token = await devToken(location.origin, dev);
        localStorage.setItem(key, token);
        return token;
      }
    : null;
  const stored = localStorage.getItem(key);
  if (valid(stored)) return { token: stored, getToken };
  if (dev) {
    try {
      return { token: await getToken(), getToken };
    } catch {
      /* dev sign-in gone: ask again */
    }
  }
  return new Promise((resolve) => showForm({ key, role, root, title, resolve }));
}

export function signOut(key) {
  localStorage.removeItem(key);
  localStorage.removeItem(key + ':dev');
  location.reload();
}

async function devAvailable() {
  const r = await fetch('/v1/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  return r.status !== 404;
}

async function showForm({ key, role, root, title, resolve }) {
  const error = h('p', { class: 'error', role: 'alert' });
  const hasDev = await devAvailable().catch(() => false);
  let form;
  if (hasDev) {
    const sub = h('input', { id: 'si-sub', required: true, value: role === 'user' ? 'alice' : 'ann', autocomplete: 'off' });
    const name = h('input', { id: 'si-name', value: role === 'user' ? 'Alice' : 'Ann', autocomplete: 'off' });
    const roleSelect = h('select', { id: 'si-role' },
      (role === 'user' ? ['user'] : ['agent', 'admin']).map((r) => h('option', { value: r }, r)));
    form = h('form', {
      class: 'panel-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const who = { sub: sub.value.trim(), name: name.value.trim() || undefined, role: roleSelect.value };
        try {
          const token = await devToken(location.origin, who);
          localStorage.setItem(key, token);
          localStorage.setItem(key + ':dev', JSON.stringify(who));
          location.reload();
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
    h('p', { class: 'muted' }, 'Development sign-in (PGCHAT_DEV=1): choose who you are.'),
    h('label', { for: 'si-sub' }, 'User id'), sub,
    h('label', { for: 'si-name' }, 'Name'), name,
    h('label', { for: 'si-role' }, 'Role'), roleSelect,
    h('button', { class: 'btn primary', type: 'submit' }, 'Sign in'));
  } else {
    const token = h('textarea', { id: 'si-token', rows: 4, required: true });
    form = h('form', {
      class: 'panel-form',
      onsubmit: (e) => {
        e.preventDefault();
        if (!valid(token.value.trim())) {
          error.textContent = 'That token is malformed or expired.';
          return;
        }
        localStorage.setItem(key, token.value.trim());
        resolve({ token: token.value.trim(), getToken: null });
        root.replaceChildren();
      },
    },
    h('p', { class: 'muted' }, 'Paste a token (pgchat token --sub ann --role agent).'),
    h('label', { for: 'si-token' }, 'Token'), token,
    h('button', { class: 'btn primary', type: 'submit' }, 'Sign in'));
  }
  root.replaceChildren(h('main', { class: 'landing-main narrow' },
    h('h1', {}, h('span', { class: 'logo-dot', 'aria-hidden': 'true' }), ' ', title), form, error));
}
